import Runtime

// Settings of the quantum samplers, checked in one place (as
// Sampler+Validation.swift does for the classical ones); errors name the
// offending property.

extension PathIntegralSampler {
    public func validate() throws {
        try require(!gamma.isEmpty && gamma.allSatisfy { $0.isFinite && $0 >= 0 }, field: "gamma",
                    "must be finite numbers >= 0 (one, or one per unit)")
        try requireRange(slices, 2, 1024, field: "slices")
        try requireRange(sweeps, 0, 100_000_000, field: "sweeps")
        try requireRange(burnIn, 0, 100_000_000, field: "burnIn")
    }
}

extension SimulatedQuantumAnnealing {
    public func validate() throws {
        try requireFinite(temperature, open: true, field: "temperature")
        try requireFinite(freezeOut, max: 1, open: true, field: "freezeOut")
        try requireRange(steps, 1, 100_000_000, field: "steps")
        try requireRange(sweepsPerStep, 1, 100_000_000, field: "sweepsPerStep")
        try requireRange(pauseSweeps, 0, 100_000_000, field: "pauseSweeps")
        try requireRange(slices, 2, 1024, field: "slices")
    }
}

extension ContinuousTimePathIntegralSampler {
    public func validate() throws {
        try require(!gamma.isEmpty && gamma.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= Self.maxGamma }, field: "gamma",
                    "must be finite numbers in 0...\(Int(Self.maxGamma)) (one, or one per unit)")
        try requireRange(sweeps, 0, 100_000_000, field: "sweeps")
        try requireRange(burnIn, 0, 100_000_000, field: "burnIn")
    }
}
