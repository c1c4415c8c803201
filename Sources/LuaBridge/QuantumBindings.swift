import CLua
import Model
import Runtime

// Quantum Boltzmann machines in Lua: qv.quantum (exact diagonalization,
// quantum log Z), qv.sampler.pimc and qv.prior.quantum.

/// The `gamma` option: a number >= 0 or a table of N numbers >= 0.
private func gammaOption(_ args: Arguments, _ o: Options, units: Int?, default d: Double? = nil) throws -> [Float] {
    guard o.has("gamma") else {
        guard let d else { throw args.optionError("gamma", "required (a number >= 0 or a table of one per unit)") }
        return [Float(d)]
    }
    let (shape, v) = try args.convertingOption("gamma") { try LuaArrays.read(o.value("gamma"), state: args.state) }
    guard shape.count <= 1, !v.isEmpty, v.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
        throw args.optionError("gamma", "expected a finite number >= 0 or a table of them")
    }
    if let n = units, v.count != 1, v.count != n {
        throw args.optionError("gamma", "expected 1 or \(n) values (one per unit), got \(v.count)")
    }
    return v
}

/// The `slices` option (Trotter slices M).
private func slicesOption(_ args: Arguments, _ o: Options, default d: Int) throws -> Int {
    let m = try o.int("slices", default: d)
    guard m >= 2, m <= 1024 else { throw args.optionError("slices", "must be in 2..1024, got \(m)") }
    return m
}

private func quantumMachine(_ args: Arguments, _ bm: BoltzmannMachine, _ gamma: [Float]) throws -> QuantumBoltzmannMachine {
    try modelOp(args) {
        gamma.count == 1 ? try QuantumBoltzmannMachine(machine: bm, gamma: gamma[0])
                         : try QuantumBoltzmannMachine(machine: bm, gamma: gamma)
    }
}

extension QV {
    /// `qv.quantum`, `qv.sampler.pimc` and `qv.prior.quantum`.
    public static func openQuantum(_ state: LuaState) {
        let m = state.module("qv.quantum", doc: """
            qv.quantum — quantum Boltzmann machines H = Σ Γ σx + H(z) (Eq. 13) on a qv.BM's machine,
            with σz = 2z − 1 (z = 1 ↔ σz = +1) and H(z) = Σ b z + Σ W z z kept as the diagonal, so
            Γ = 0 is the classical machine exactly. exact (diagonalization, N <= 14), logz (quantum
            AIS on the Trotterized system). Sampling: qv.sampler.pimc; priors: qv.prior.quantum.
            """)
        m.fn("exact", doc: """
            qv.quantum.exact(bm, {gamma = g [, slices = M]}) -> table
            Exact diagonalization of the QBM (N <= 14; about 24·4^N bytes, O(8^N) time: seconds at N = 12,
            many minutes at N = 14): {logz, means = {<z_l>},
            edge_means = {<z_u z_v>}, sigma_z, sigma_zz (per edge), sigma_x (<σx_l>, negative for
            Γ > 0)}. With slices = M, the exact M-slice Suzuki–Trotter system that qv.sampler.pimc
            samples (no sigma_x). gamma: a number or one per unit.
            """) { args in
            try args.expectAtMost(2)
            let bm = try args.object(1, BMBox.self, "bm")
            let o = try args.options(2, allowed: ["gamma", "slices"])
            let q = try quantumMachine(args, bm.bm, try gammaOption(args, o, units: bm.bm.units))
            let m = o.has("slices") ? try slicesOption(args, o, default: 16) : nil
            let r = try modelOp(args) { try m.map { try QuantumExact.trotterMoments(q, slices: $0) } ?? QuantumExact.moments(q) }
            var t: [String: LuaValue] = ["logz": .number(r.logZ), "means": .numbers(r.means),
                                         "edge_means": .numbers(r.edgeMeans), "sigma_z": .numbers(r.sigmaZ),
                                         "sigma_zz": .numbers(r.sigmaZZ)]
            if !r.sigmaX.isEmpty { t["sigma_x"] = .numbers(r.sigmaX) }
            return .table(t)
        }
        m.fn("logz", doc: """
            qv.quantum.logz(bm, {gamma = g, slices = 32, chains = 256, temperatures = 1000,
                            generator = gen}) -> logZ, error
            Quantum log Z = log Tr e^{-H} by annealed importance sampling on the M-slice Trotterized
            system from free spins (λ = 0) to the machine (λ = 1), PIMC sweeps at each step. The
            error is one standard error; the Trotter error O(1/M²) is not in it.
            """) { args in
            try args.expectAtMost(2)
            let bm = try args.object(1, BMBox.self, "bm")
            let o = try args.options(2, allowed: ["gamma", "slices", "chains", "temperatures", "generator"])
            let q = try quantumMachine(args, bm.bm, try gammaOption(args, o, units: bm.bm.units))
            let ais = QuantumAnnealedImportanceSampling(
                temperatures: try positiveOption(args, o, "temperatures", default: 1000),
                slices: try slicesOption(args, o, default: 32))
            let chains = try positiveOption(args, o, "chains", default: 256)
            let stream = try o.optionalObject("generator", RandomStream.self)
            var g = stream?.generator ?? GlobalRandom.split()
            defer { stream?.generator = g }
            let e = try modelOp(args) { try ais.estimateLogZ(q, chains: chains, generator: &g) }
            return .values(.number(e.logZ), .number(e.error))
        }

        state.module("qv.sampler").fn("pimc", doc: """
            qv.sampler.pimc{gamma = 0.5, slices = 16, sweeps = 10, burn_in = 100, persistent = true,
                            all_slices = false} -> qv.Sampler
            Path-integral Monte Carlo of the quantum Boltzmann machine with bm's H(z) as its diagonal
            and transverse field gamma (qv.quantum): M = slices Trotter replicas coupled along
            imaginary time by K = -½ ln tanh(Γ/M); a sweep is a heat-bath pass over every spin
            plus Swendsen–Wang cluster moves of each world line (so small Γ does not freeze).
            Returns slice 0 of each chain (all M slices with all_slices = true: M·n rows).
            samples.stats.sigma_x is the mean <σx> estimate.
              gamma        Γ >= 0, a number or a table of one per unit
              persistent   keep the chains between calls (PCD); s:reset() restarts them
            """) { args in
            try args.expectAtMost(1)
            let o = try args.options(1, allowed: ["gamma", "slices", "sweeps", "burn_in", "persistent", "all_slices"])
            let gamma = try gammaOption(args, o, units: nil, default: 0.5)
            let slices = try o.int("slices", default: 16)
            let sweeps = try o.int("sweeps", default: 10), burn = try o.int("burn_in", default: 100)
            let persistent = try o.bool("persistent", default: true), all = try o.bool("all_slices", default: false)
            let s = try validated(args, PathIntegralSampler(gamma: gamma, slices: slices, sweeps: sweeps, burnIn: burn,
                                                            persistent: persistent, allSlices: all))
            return .object(SamplerBox("pimc", s, [("gamma", gamma.count == 1 ? .number(Double(gamma[0])) : .numbers(gamma)),
                                                  ("slices", .int(slices)), ("sweeps", .int(sweeps)),
                                                  ("burn_in", .int(burn)), ("persistent", .bool(persistent)),
                                                  ("all_slices", .bool(all))]))
        }

        state.module("qv.sampler").fn("ctpimc", doc: """
            qv.sampler.ctpimc{gamma = 0.5, sweeps = 10, burn_in = 100, persistent = true} -> qv.Sampler
            Continuous-time path-integral Monte Carlo of the quantum Boltzmann machine with bm's H(z) as
            its diagonal and transverse field gamma (qv.quantum): the M → ∞ limit of qv.sampler.pimc, so
            no Trotter error. Each unit's world line on imaginary time [0, 1) is a list of kinks; a sweep
            updates every line by the continuous-time cluster move (Poisson cuts of rate Γ, each segment
            drawn by heat bath in its integrated field). Returns z(τ = 0) of each chain;
            samples.stats.sigma_x (mean <σx> = -<kinks>/Γ) and kinks (mean kinks per line).
              gamma        Γ in 0..10000, a number or a table of one per unit
              persistent   keep the chains between calls; s:reset() restarts them
            """) { args in
            try args.expectAtMost(1)
            let o = try args.options(1, allowed: ["gamma", "sweeps", "burn_in", "persistent"])
            let gamma = try gammaOption(args, o, units: nil, default: 0.5)
            let sweeps = try o.int("sweeps", default: 10), burn = try o.int("burn_in", default: 100)
            let persistent = try o.bool("persistent", default: true)
            let s = try validated(args, ContinuousTimePathIntegralSampler(gamma: gamma, sweeps: sweeps, burnIn: burn,
                                                                          persistent: persistent))
            return .object(SamplerBox("ctpimc", s, [("gamma", gamma.count == 1 ? .number(Double(gamma[0])) : .numbers(gamma)),
                                                    ("sweeps", .int(sweeps)), ("burn_in", .int(burn)),
                                                    ("persistent", .bool(persistent))]))
        }

        state.module("qv.sampler").fn("sqa", doc: """
            qv.sampler.sqa{schedule = "file.csv", temperature = T, freeze_out = s_star, steps = 100,
                           sweeps_per_step = 1, pause_sweeps = 0, slices = 16} -> qv.Sampler
            Simulated quantum annealing as an annealer emulator (Section II): PIMC chains follow the
            thermal state of H(s) = A(s) Σσx + B(s)[Σ h σz + Σ J σz σz] at temperature T while s runs
            from 0 to the freeze-out point s*, where they freeze, so the reads follow the QBM of Eq. 17:
            Γ = A(s*)/T, b, W = β_eff (h, J), β_eff = B(s*)/T (samples.stats.beta_eff, gamma,
            gamma_star). (h, J) is the machine's Ising form (σz = 2z − 1).
              schedule     a CSV file of lines s,A,B (s from 0 to 1; docs/schedules/example_schedule.csv
                           documents the format; D-Wave's published tables: halve A and B)
              temperature  k_B T in the schedule's unit (12 mK ≈ 0.25 GHz)
              freeze_out   s* in (0, 1]
              pause_sweeps extra sweeps held at s* (an anneal pause)
            """) { args in
            try args.expectAtMost(1)
            let o = try args.options(1, allowed: ["schedule", "temperature", "freeze_out", "steps", "sweeps_per_step",
                                                  "pause_sweeps", "slices"])
            guard let path = try o.optionalString("schedule") else { throw args.optionError("schedule", "required (a CSV file s,A,B)") }
            let sched: AnnealingSchedule
            do { sched = try AnnealingSchedule.load(path: path) } catch let e as ModelError {
                throw args.optionError("schedule", e.message)
            }
            guard let t = try o.optionalNumber("temperature") else {
                throw args.optionError("temperature", "required, a finite number > 0")
            }
            let fo = try o.number("freeze_out", default: 1)
            let steps = try o.int("steps", default: 100), sps = try o.int("sweeps_per_step", default: 1)
            let pause = try o.int("pause_sweeps", default: 0), slices = try o.int("slices", default: 16)
            let sqa = try validated(args, SimulatedQuantumAnnealing(schedule: sched, temperature: t, freezeOut: fo, steps: steps,
                                                                    sweepsPerStep: sps, pauseSweeps: pause, slices: slices))
            return .object(SamplerBox("sqa", sqa, [("schedule", .string(path)), ("temperature", .number(t)),
                                                   ("freeze_out", .number(fo)), ("steps", .int(steps)),
                                                   ("sweeps_per_step", .int(sps)), ("pause_sweeps", .int(pause)),
                                                   ("slices", .int(slices))]))
        }

        state.module("qv.prior").fn("quantum", doc: """
            qv.prior.quantum(graph, {gamma = 0.5, slices = 16, sweeps = 10, burn_in = 100, samples = 1000,
                                     weight_scale = 0.01, bias = 0}) -> qv.Prior
            A quantum Boltzmann machine prior (Section I.C): H = Σ Γ σx + H(z), Γ fixed, trained with
            the Q-ELBO (Eq. 14: p̃(z) = e^{-H(z)}/Z, Z quantum): p:energy(z) is the classical H(z);
            p:negative_phase() draws Eq. 16's negative phase from `samples` persistent PIMC chains (all
            slices averaged; β_eff is not tracked), and p:logz_tensor(ph) is the quantum log Z (exact for
            N <= 10, else the last p:logz estimate) whose gradient is ph. p:logz() is exact for
            N <= 12, quantum AIS otherwise. Γ = 0 is the classical prior. In a VAE:
            model:loss(x, {negative_phase = p:negative_phase()}).
            """) { args in
            try args.expectAtMost(2)
            let g = try args.object(1, GraphBox.self, "graph")
            let o = try args.options(2, allowed: ["gamma", "slices", "sweeps", "burn_in", "samples", "weight_scale", "bias"])
            let gamma = try gammaOption(args, o, units: g.graph.nodeCount, default: 0.5)
            let slices = try o.int("slices", default: 16), sweeps = try o.int("sweeps", default: 10)
            let burn = try o.int("burn_in", default: 100)
            let ws = try o.number("weight_scale", default: 0.01), b0 = try o.number("bias", default: 0)
            let samples = try positiveOption(args, o, "samples", default: 1000, max: 10_000_000)
            let p = try modelOp(args, renamed: ["biasInit": "bias"]) {
                try QuantumPrior(graph: g.graph, gamma: gamma, slices: slices, sweeps: sweeps, burnIn: burn,
                                 biasInit: Float(b0), weightScale: Float(ws), generator: &GlobalRandom.generator)
            }
            try modelOp(args, renamed: ["negativeSamples": "samples"]) { try p.setNegativeSamples(samples) }
            return .object(PriorBox(p, graph: g))
        }
    }
}
