import Runtime

// The settings each sampler accepts, checked in one place: `validate()`
// runs when a sampler is sampled and may be called right after building
// one (the Lua bridge does, so a bad option is reported at once). Errors
// name the offending property (`ModelError.field`).

extension Sampler {
    /// Checks the sampler's settings (default: nothing to check).
    public func validate() throws {}
}

/// `value` in lo...hi, else an error about `field`: "must be in lo..hi, got v".
func requireRange(_ value: Int, _ lo: Int, _ hi: Int, field: String) throws {
    try require(value >= lo && value <= hi, field: field, "must be in \(lo)..\(hi), got \(value)")
}

/// A finite `value` ≥ lo (> lo when `open`) and ≤ hi, else an error about
/// `field`: "must be a finite number in (0, 1], got 0" / ">= 0".
func requireFinite(_ value: Double, min lo: Double = 0, max hi: Double = .infinity, open: Bool = false,
                   field: String) throws {
    let ok = value.isFinite && (open ? value > lo : value >= lo) && value <= hi
    let range = hi.isFinite ? "in \(open ? "(" : "[")\(numberText(lo)), \(numberText(hi))]"
                            : (open ? "> \(numberText(lo))" : ">= \(numberText(lo))")
    try require(ok, field: field, "must be a finite number \(range), got \(numberText(value))")
}

extension BlockGibbsSampler {
    public func validate() throws {
        try requireRange(sweeps, 0, 100_000_000, field: "sweeps")
        try requireRange(burnIn, 0, 100_000_000, field: "burnIn")
        try requireFinite(Double(beta), field: "beta")
    }
}

extension SimulatedAnnealing {
    public func validate() throws {
        try requireRange(sweeps, 1, 100_000_000, field: "sweeps")
        if let (hot, cold) = betaRange {
            try require(hot.isFinite && cold.isFinite && hot > 0 && cold >= hot, field: "betaRange",
                        "expected (hot, cold) with 0 < hot <= cold, got (\(numberText(hot)), \(numberText(cold)))")
        }
        if let s = schedule {
            try require(!s.isEmpty && s.allSatisfy { $0.isFinite && $0 >= 0 }, field: "schedule",
                        "expected a non-empty list of finite betas >= 0")
        }
    }
}

extension AnnealedImportanceSampling {
    public func validate() throws {
        try requireRange(temperatures, 1, 100_000_000, field: "temperatures")
        try requireRange(sweepsPerStep, 1, 1_000_000, field: "sweepsPerStep")
    }
}

extension PopulationAnnealing {
    public func validate() throws {
        try requireRange(temperatures, 1, 100_000_000, field: "temperatures")
        try requireRange(sweepsPerStep, 0, 1_000_000, field: "sweepsPerStep")
        try requireRange(populations, 1, 1_000_000, field: "populations")
        try requireFinite(essThreshold, min: 0, max: 1, field: "essThreshold")
    }
}

extension AnnealerEmulator {
    public func validate() throws {
        try requireFinite(betaEff, field: "betaEff")
        try requireFinite(hNoise, field: "hNoise")
        try requireFinite(jNoise, field: "jNoise")
        try requireRange(gauges, 1, 1_000_000, field: "gauges")
        try requireRange(annealSweeps, 1, 100_000_000, field: "annealSweeps")
        try requireFinite(freezeOut, min: 0, max: 1, open: true, field: "freezeOut")
        try requireRange(pauseSweeps, 0, 100_000_000, field: "pauseSweeps")
    }
}

extension CommandSampler {
    public func validate() throws {
        try require(!arguments.isEmpty, field: "arguments", "no program given")
        try requireFinite(timeout, min: 0, max: 1e7, open: true, field: "timeout")
    }
}
