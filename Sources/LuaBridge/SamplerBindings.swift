import CLua
import Model
import Runtime

// Samplers in Lua (`qv.sampler`, `qv.Sampler`, `qv.Samples`).

/// A sampler owned by Lua, with the settings it was built with.
final class SamplerBox {
    let kind: String
    let sampler: Sampler
    /// (option, value as shown) in a fixed order, for tostring and s.options.
    let settings: [(String, LuaValue)]

    init(_ kind: String, _ sampler: Sampler, _ settings: [(String, LuaValue)]) {
        self.kind = kind; self.sampler = sampler; self.settings = settings
    }

    var summary: String {
        "qv.Sampler \(kind){" + settings.map { k, v in "\(k) = \(show(v))" }.joined(separator: ", ") + "}"
    }

    private func show(_ v: LuaValue) -> String {
        switch v {
        case .number(let d): return fmtNum(d, "%.6g")
        case .array(let a): return "{" + a.map(show).joined(separator: ", ") + "}"
        case .table(let t): return "{" + t.keys.sorted().map { "\($0) = \(show(t[$0]!))" }.joined(separator: ", ") + "}"
        default: return v.description
        }
    }

    /// Samples `count` configurations of the machine; options at
    /// `optionsIndex`: {generator = qv.Generator}.
    func run(_ bm: BMBox, count: Int, args: Arguments, optionsIndex: Int) throws -> SamplesBox {
        let o = try args.options(optionsIndex, allowed: ["generator"])
        let stream = try o.optionalObject("generator", RandomStream.self)
        var g = stream?.generator ?? GlobalRandom.split()
        defer { stream?.generator = g }
        let set: SampleSet
        if let ls = sampler as? LuaCallbackSampler {
            set = try ls.sample(box: bm, count: count)
        } else {
            set = try sampler.sample(bm.bm, count: count, generator: &g)
        }
        return SamplesBox(set, sampler: kind, graph: bm.bm.graph)
    }
}

/// Samples with energies and statistics, owned by Lua.
final class SamplesBox {
    let set: SampleSet
    let sampler: String
    let graph: Graph?
    init(_ set: SampleSet, sampler: String, graph: Graph?) {
        self.set = set; self.sampler = sampler; self.graph = graph
    }

    /// ⟨H⟩ over the samples, weighted by the importance weights when the
    /// sampler returned some (AIS).
    var meanEnergy: Double { self.set.meanEnergy() }

    var summary: String {
        var s = "qv.Samples: \(set.count) × \(set.units) from \(sampler), mean energy \(fmtNum(meanEnergy, "%.5g"))"
        if let z = set.stats["logZ"] {
            s += ", logZ \(fmtNum(z, "%.6g"))"
            if let e = set.stats["logZ_err"] { s += " ± \(fmtNum(e, "%.2g"))" }
        }
        return s
    }

    func row(_ i: Int) -> [Float] { Array(set.samples[i * set.units..<(i + 1) * set.units]) }
}

/// A sampler written in Lua: a function(bm, n) returning n rows of N
/// values in {0, 1} (and optionally a table of statistics). It runs on the
/// Lua thread that calls it.
final class LuaCallbackSampler: Sampler {
    let function: LuaRef
    let name: String
    init(_ f: LuaRef, name: String) { function = f; self.name = name }

    func sample(_ bm: BoltzmannMachine, count: Int, generator: inout Generator) throws -> SampleSet {
        try sample(box: BMBox(bm), count: count)
    }

    func sample(box: BMBox, count: Int) throws -> SampleSet {
        guard let state = function.state, !state.isClosed else { throw LuaError("\(name): its Lua state is closed") }
        let n = box.bm.units
        let results = try function.call([.object(box), .int(count)])
        let what = "\(name): the sampling function must return a table of \(count) rows of \(n) values 0 or 1"
        guard let first = results.first, !first.isNil else { throw LuaError("\(what), it returned nothing") }
        var stats: [String: Double] = [:]
        if case .object(let o) = first, let s = o as? SamplesBox { stats = s.set.stats }
        let r: (values: [Float], rows: Int, single: Bool)
        do {
            r = try LuaArrays.rows(first, units: n, state: state)
        } catch let b as LuaArrays.Bad {
            throw LuaError("\(what) (\(b.detail))")
        }
        guard r.rows == count else { throw LuaError("\(what), it returned \(r.rows) row\(r.rows == 1 ? "" : "s")") }
        if let k = r.values.firstIndex(where: { $0 != 0 && $0 != 1 }) {
            throw LuaError("\(what) (row \(k / n + 1), value \(k % n + 1) is \(fmtNum(Double(r.values[k]))))")
        }
        if results.count > 1, case .ref(let t) = results[1], t.typeName == "table" {
            for (k, v) in luaStringKeyedPairs(t, state: state) {
                if let d = v.doubleValue { stats[k] = d }
            }
        }
        return SampleSet(units: n, samples: r.values, energies: try box.bm.energies(r.values, batch: count), stats: stats)
    }
}

/// Statistics as a Lua table; integral values (counts) become integers.
func statsTable(_ stats: [String: Double], extra: [String: LuaValue] = [:]) -> LuaValue {
    var t = stats.mapValues { v -> LuaValue in
        v == v.rounded() && abs(v) < 9e15 ? .int(Int(v)) : .number(v)
    }
    for (k, v) in extra { t[k] = v }
    return .table(t)
}

/// The string-keyed entries of a table (raw), values converted.
func luaStringKeyedPairs(_ t: LuaRef, state: LuaState) -> [(String, LuaValue)] {
    let L = state.currentL
    let top = lua_gettop(L)
    defer { lua_settop(L, top) }
    guard lua_checkstack(L, 4) != 0 else { return [] }
    t.push(L)
    guard lua_type(L, -1) == LUA_TTABLE else { return [] }
    var out: [(String, LuaValue)] = []
    lua_pushnil(L)
    while lua_next(L, top + 1) != 0 {
        if lua_type(L, -2) == LUA_TSTRING, let k = state.string(at: -2, L) {
            out.append((k, state.value(at: -1, L)))
        } else {
            out.append(("\u{0}" + state.typeName(at: -2, L), .nil))   // marks a non-string key
        }
        lua_settop(L, -2)
    }
    return out
}

extension Arguments {
    /// A table holding both positional strings (1..n) and named options:
    /// `{"python3", "s.py", timeout = 10}`.
    func mixedTable(_ i: Int, _ name: String, allowed: Set<String>) throws -> (positional: [String], options: Options) {
        guard isTable(i) else { throw typeError(i, name, expected: "table") }
        let positional = try strings(i, name)
        let idx = stackIndex(i)
        let n = positional.count
        var keys: Set<String> = []
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        lua_pushnil(L)
        while lua_next(L, idx) != 0 {
            if lua_isinteger(L, -2) != 0 {
                let k = Int(lua_tointegerx(L, -2, nil))
                if k >= 1 && k <= n { lua_settop(L, -2); continue }
                throw argumentError(i, name, "unexpected entry [\(k)] after the \(n) command words")
            }
            guard lua_type(L, -2) == LUA_TSTRING, let k = state.string(at: -2, L) else {
                throw argumentError(i, name, "option names must be strings, got \(state.typeName(at: -2, L))")
            }
            guard allowed.contains(k) else { throw unknownOption(k, allowed: allowed) }
            keys.insert(k)
            lua_settop(L, -2)
        }
        return (positional, Options(args: self, index: idx, keys: keys))
    }
}

let samplerClass = LuaClass<SamplerBox>("qv.Sampler", doc: """
    qv.Sampler — draws samples of a qv.BM (qv.sampler.exact, gibbs, sa, pa, ais, annealer,
    lua, command). All share one interface: s:sample(bm, n) -> qv.Samples.
    """)
    .property("kind", doc: "\"exact\", \"gibbs\", \"sa\", \"pa\", \"ais\", \"annealer\", \"pimc\", \"sqa\", \"lua\" or \"command\"") { s in
        .string(s.kind)
    }
    .property("options", doc: "the settings, every default filled in (a table)") { s in
        .table(Dictionary(s.settings, uniquingKeysWith: { a, _ in a }))
    }
    .property("chains", doc: "gibbs, pimc: the number of persistent chains (0 before the first call); nil otherwise") { s in
        (s.sampler as? BlockGibbsSampler).map { .int($0.chains) } ?? (s.sampler as? PathIntegralSampler).map { .int($0.chains) }
            ?? (s.sampler as? ContinuousTimePathIntegralSampler).map { .int($0.chains) } ?? .nil
    }
    .method("sample", doc: """
        s:sample(bm, n [, {generator = g}]) -> qv.Samples
        n samples of the machine bm with their energies and the sampler's statistics
        (samples.stats: logZ and logZ_err for ais and pa, sweeps, ...). Randomness comes
        from the global generator (qv.seed(n) reproduces a run) or from generator g.
        Ctrl-C interrupts (the error "interrupted").
        """) { s, args in
        try args.expectAtMost(3)
        let bm = try args.object(1, BMBox.self, "bm")
        let n = try sampleCount(args, 2)
        return .object(try s.run(bm, count: n, args: args, optionsIndex: 3))
    }
    .method("reset", doc: "s:reset()\ngibbs, pimc: drops the persistent chains (the next call starts fresh); other samplers: nothing.") { s, args in
        try args.expectAtMost(0)
        (s.sampler as? BlockGibbsSampler)?.reset()
        (s.sampler as? PathIntegralSampler)?.reset()
        (s.sampler as? ContinuousTimePathIntegralSampler)?.reset()
        return .none
    }
    .tostring { s in s.summary }

let samplesClass = LuaClass<SamplesBox>("qv.Samples", doc: """
    qv.Samples — n samples of N units (values 0/1) with their energies H(z) and the
    sampler's statistics (s:sample(bm, n)). #samples is n; rows are numbered 1..n.
    """)
    .property("count", doc: "number of samples (also #samples)") { s in .int(s.set.count) }
    .property("units", doc: "units per sample") { s in .int(s.set.units) }
    .property("stats", doc: "the sampler's statistics (logZ, logZ_err, sweeps, ess, ...)") { s in
        statsTable(s.set.stats)
    }
    .property("sampler", doc: "the kind of sampler that drew them") { s in .string(s.sampler) }
    .property("weights", doc: """
        the normalized importance weights {w_1, ..., w_n} (summing to 1) of weighted samples (ais),
        nil for equally weighted samples; means, edge_means and mean_energy use them
        """) { s in s.set.weights.map { .numbers($0) } ?? .nil }
    .len { s in .int(s.set.count) }
    .method("means", doc: """
        samples:means() -> {<z_l>, ...}
        The mean of each unit over the samples (weighted by the importance weights for ais samples).
        """) { s, args in
        try args.expectAtMost(0)
        return .numbers(s.set.means())
    }
    .method("edge_means", doc: """
        samples:edge_means() -> {<z_u z_v>, ...}
        The mean of z_u z_v for every edge of the machine's graph (edge order).
        """) { s, args in
        try args.expectAtMost(0)
        guard let g = s.graph else { throw args.error("these samples have no graph") }
        return .numbers(s.set.edgeMeans(g))
    }
    .method("energies", doc: "samples:energies() -> {H, ...}\nH(z) of each sample under the machine sampled.") { s, args in
        try args.expectAtMost(0)
        return .numbers(s.set.energies)
    }
    .method("mean_energy", doc: """
        samples:mean_energy() -> number
        The mean of H over the samples (weighted by the importance weights for ais samples).
        """) { s, args in
        try args.expectAtMost(0)
        return .number(s.meanEnergy)
    }
    .method("get", doc: "samples:get(i) -> {z_1, ..., z_N}\nSample i (1-based) as a table of 0/1.") { s, args in
        try args.expectAtMost(1)
        let i = try args.int(1, "i")
        guard i >= 1, i <= s.set.count else { throw args.argumentError(1, "i", "sample \(i) outside 1..\(s.set.count)") }
        return .array(s.row(i - 1).map { .int(Int($0)) })
    }
    .method("totable", doc: "samples:totable() -> {{z_1, ..., z_N}, ...}\nAll samples as a Lua table of rows.") { s, args in
        try args.expectAtMost(0)
        return .array((0..<s.set.count).map { r in .array(s.row(r).map { .int(Int($0)) }) })
    }
    .extraBytes { s in s.set.samples.count * 4 + s.set.energies.count * 4 }
    .tostring { s in s.summary }

extension QV {
    /// Graphs, Boltzmann machines and samplers: qv.graph, qv.bm, qv.sampler.
    public static func openBoltzmann(_ state: LuaState) {
        openGraphs(state)
        openMachines(state)
        openSamplers(state)
    }

    static func openSamplers(_ state: LuaState) {
        let qv = state.module("qv")
        qv.add(samplerClass)
        qv.add(samplesClass)
        let m = state.module("qv.sampler", doc: """
            qv.sampler — samplers of Boltzmann machines, one interface: s:sample(bm, n) -> qv.Samples.
            exact, gibbs, sa, pa, ais, annealer (an emulated quantum annealer), lua (your own
            function) and command (another program). Unknown options are errors.
            """)

        m.fn("exact", doc: """
            qv.sampler.exact() -> qv.Sampler
            Independent exact samples by enumerating all 2^N states (N <= 24): the ground
            truth. samples.stats.logZ is the exact log Z.
            """) { args in
            try args.expectAtMost(1)
            _ = try args.options(1, allowed: [])
            return .object(SamplerBox("exact", ExactSampler(), []))
        }
        m.fn("gibbs", doc: """
            qv.sampler.gibbs{sweeps = 10, burn_in = 0, beta = 1, persistent = true} -> qv.Sampler
            Block Gibbs sampling, one chain per sample, updating the graph's independent sets
            in turn at inverse temperature beta.
              sweeps       sweeps per call
              burn_in      extra sweeps when the chains are (re)started
              beta         inverse temperature (samples p(z) ∝ exp(-beta H(z)))
              persistent   keep the chains between calls (PCD; restarted when n or the
                           machine size changes, or by s:reset()); false starts every call
                           from uniform random states
            """) { args in
            try args.expectAtMost(1)
            let o = try args.options(1, allowed: ["sweeps", "burn_in", "beta", "persistent"])
            let sweeps = try o.int("sweeps", default: 10), burn = try o.int("burn_in", default: 0)
            let beta = try o.number("beta", default: 1)
            let persistent = try o.bool("persistent", default: true)
            let s = try validated(args, BlockGibbsSampler(sweeps: sweeps, burnIn: burn, beta: Float(beta), persistent: persistent))
            return .object(SamplerBox("gibbs", s,
                                      [("sweeps", .int(sweeps)), ("burn_in", .int(burn)), ("beta", .number(beta)),
                                       ("persistent", .bool(persistent))]))
        }
        m.fn("sa", doc: """
            qv.sampler.sa{sweeps = 1000, beta_range = {hot, cold}, spacing = "geometric", schedule = {...}} -> qv.Sampler
            Simulated annealing (Metropolis on the Ising form): an optimizer, its samples
            concentrate on low energies.
              sweeps       number of sweeps (one beta each)
              beta_range   {hot, cold} inverse temperatures; default: dwave-samplers' heuristic
                           from the problem's fields and couplings
              spacing      "geometric" (default) or "linear" between hot and cold
              schedule     an explicit table of betas, one per sweep (overrides the others)
            """) { args in
            try args.expectAtMost(1)
            let o = try args.options(1, allowed: ["sweeps", "beta_range", "spacing", "schedule"])
            let sweeps = try o.int("sweeps", default: 1000)
            var settings: [(String, LuaValue)] = [("sweeps", .int(sweeps))]
            var range: (Double, Double)? = nil
            if o.has("beta_range") {
                let (shape, v) = try args.convertingOption("beta_range") { try LuaArrays.read(o.value("beta_range"), state: args.state) }
                guard shape == [2] else { throw args.optionError("beta_range", "expected {hot, cold} with 0 < hot <= cold") }
                range = (Double(v[0]), Double(v[1]))
                settings.append(("beta_range", .numbers([v[0], v[1]])))
            }
            let spacingName = try o.string("spacing", default: "geometric")
            guard let spacing = BetaSpacing(rawValue: spacingName) else {
                throw args.optionError("spacing", "expected 'linear' or 'geometric', got '\(spacingName)'")
            }
            settings.append(("spacing", .string(spacingName)))
            var schedule: [Double]? = nil
            if o.has("schedule") {
                let (shape, v) = try args.convertingOption("schedule") { try LuaArrays.read(o.value("schedule"), state: args.state) }
                guard shape.count == 1 else { throw args.optionError("schedule", "expected a non-empty table of betas >= 0") }
                schedule = v.map(Double.init)
                settings.append(("schedule", .string("{\(v.count) betas}")))
            }
            let sa = try validated(args, SimulatedAnnealing(sweeps: sweeps, betaRange: range, spacing: spacing, schedule: schedule))
            return .object(SamplerBox("sa", sa, settings))
        }
        m.fn("pa", doc: """
            qv.sampler.pa{temperatures = 1000, sweeps_per_step = 1, populations = 4, resampling = "systematic"} -> qv.Sampler
            Population annealing from the machine's biases alone (beta = 0) to the machine
            (beta = 1), with log Z: samples.stats.logZ, logZ_err (from the spread of the
            independent populations; n samples are split over them).
              temperatures      annealing steps
              sweeps_per_step   block Gibbs sweeps after each step (0 allowed)
              populations       independent populations (>= 2 for an error bar)
              resampling        "systematic" or "multinomial"
              ess_threshold     resample when ESS < threshold x population (default 1: always)
              spacing           "linear" (default) or "geometric" betas
              path              "couplings" (default) or "full" (from the uniform distribution)
            """) { args in
            try args.expectAtMost(1)
            let o = try args.options(1, allowed: ["temperatures", "sweeps_per_step", "populations", "resampling",
                                                  "ess_threshold", "spacing", "path"])
            let a = try AnnealingOptions.read(args, o)
            let pops = try o.int("populations", default: 4)
            let res = try resamplingOption(args, o)
            let ess = try o.number("ess_threshold", default: 1)
            let pa = try validated(args, PopulationAnnealing(temperatures: a.temperatures, sweepsPerStep: a.sweepsPerStep,
                                                             populations: pops, spacing: a.spacing, path: a.path,
                                                             resampling: res, essThreshold: ess))
            return .object(SamplerBox("pa", pa, [
                ("temperatures", .int(a.temperatures)), ("sweeps_per_step", .int(a.sweepsPerStep)),
                ("populations", .int(pops)), ("resampling", .string(res.rawValue)), ("ess_threshold", .number(ess)),
                ("spacing", .string(a.spacing.rawValue)), ("path", .string(a.path.rawValue)),
            ]))
        }
        m.fn("ais", doc: """
            qv.sampler.ais{temperatures = 1000, sweeps_per_step = 1, spacing = "linear", path = "couplings"} -> qv.Sampler
            Annealed importance sampling, one chain per sample, with log Z in samples.stats
            (logZ, logZ_err, ess). The samples are the chains' final states: importance-
            weighted, not equally weighted samples of the machine.
            """) { args in
            try args.expectAtMost(1)
            let o = try args.options(1, allowed: ["temperatures", "sweeps_per_step", "spacing", "path"])
            let a = try AnnealingOptions.read(args, o)
            let ais = try validated(args, AnnealedImportanceSampling(temperatures: a.temperatures, sweepsPerStep: a.sweepsPerStep,
                                                                     spacing: a.spacing, path: a.path))
            return .object(SamplerBox("ais", ais, [
                ("temperatures", .int(a.temperatures)), ("sweeps_per_step", .int(a.sweepsPerStep)),
                ("spacing", .string(a.spacing.rawValue)), ("path", .string(a.path.rawValue)),
            ]))
        }
        m.fn("annealer", doc: """
            qv.sampler.annealer{beta_eff = 1, h_noise = 0, j_noise = 0, gauges = 5, ...} -> qv.Sampler
            An emulated quantum annealer sampling the machine's Ising form as hardware would:
              beta_eff       effective inverse temperature (samples ≈ exp(-beta_eff E(s)))
              h_noise        std. dev. of Gaussian control noise on every h (per programming)
              j_noise        the same on every J
              gauges         spin-reversal transforms; the n reads are split over them
              random_gauge   with gauges = 1: a random gauge (true, default) or the identity
              anneal_sweeps  sweeps of the anneal (default 100)
              freeze_out     fraction s* of the anneal where the dynamics freeze (0, 1] (default 1)
              pause_sweeps   sweeps held at the freeze-out point (anneal pause; default 0)
              drift_sd       s.d. of a drifting inverse temperature (default 0: none): an
                             Ornstein-Uhlenbeck process around beta_eff, one value per sample call,
                             beta_{i+1} = beta_eff + a (beta_i - beta_eff) + drift_sd sqrt(1-a^2) xi,
                             a = exp(-1/drift_time)
              drift_time     its correlation time in sample calls (default 100)
              drift_seed     seed of the drift path alone: emulators with the same seed share it
              drift_start    call index of the first call (a resumed run passes its step count)
            Energies returned are H(z) of the noiseless machine; stats.beta_eff is the β sampled at.
            """) { args in
            try args.expectAtMost(1)
            let o = try args.options(1, allowed: ["beta_eff", "h_noise", "j_noise", "gauges", "random_gauge",
                                                  "anneal_sweeps", "freeze_out", "pause_sweeps",
                                                  "drift_sd", "drift_time", "drift_seed", "drift_start"])
            let beta = try o.number("beta_eff", default: 1)
            let hn = try o.number("h_noise", default: 0), jn = try o.number("j_noise", default: 0)
            let gauges = try o.int("gauges", default: 5)
            let rg = try o.bool("random_gauge", default: true)
            let sweeps = try o.int("anneal_sweeps", default: 100)
            let fo = try o.number("freeze_out", default: 1)
            let pause = try o.int("pause_sweeps", default: 0)
            let dsd = try o.number("drift_sd", default: 0), dtime = try o.number("drift_time", default: 100)
            let dseed = try o.int("drift_seed", default: 1), dstart = try o.int("drift_start", default: 0)
            let em = try validated(args, AnnealerEmulator(betaEff: beta, hNoise: hn, jNoise: jn, gauges: gauges, randomGauge: rg,
                                                          annealSweeps: sweeps, freezeOut: fo, pauseSweeps: pause,
                                                          driftSD: dsd, driftTime: dtime, driftSeed: UInt64(bitPattern: Int64(dseed)),
                                                          driftStart: dstart),
                                   renamed: ["driftSD": "drift_sd"])
            return .object(SamplerBox("annealer", em, [
                ("beta_eff", .number(beta)), ("h_noise", .number(hn)), ("j_noise", .number(jn)),
                ("gauges", .int(gauges)), ("random_gauge", .bool(rg)), ("anneal_sweeps", .int(sweeps)),
                ("freeze_out", .number(fo)), ("pause_sweeps", .int(pause)),
                ("drift_sd", .number(dsd)), ("drift_time", .number(dtime)), ("drift_seed", .int(dseed)),
                ("drift_start", .int(dstart)),
            ]))
        }
        m.fn("lua", doc: """
            qv.sampler.lua(function(bm, n) ... end [, {name = "mine"}]) -> qv.Sampler
            A sampler written in Lua: the function receives the qv.BM and the sample count n
            and returns n rows of bm.units values 0 or 1 (a table of tables, or a qv.Samples),
            optionally followed by a table of numeric statistics. The result is checked, and
            the energies computed. Use it anywhere a sampler is accepted.
              s = qv.sampler.lua(function(bm, n)
                local rows = {}
                for i = 1, n do
                  local z = {}
                  for l = 1, bm.units do z[l] = qv.rand() < 0.5 and 1 or 0 end
                  rows[i] = z
                end
                return rows, {note = 1}
              end)
            """) { args in
            try args.expectAtMost(2)
            let f = try args.function(1, "sample")
            let o = try args.options(2, allowed: ["name"])
            let name = try o.string("name", default: "lua sampler")
            return .object(SamplerBox("lua", LuaCallbackSampler(f, name: name), [("name", .string(name))]))
        }
        m.fn("command", doc: """
            qv.sampler.command{"prog", "arg", ..., timeout = 60, problem = "ising", params = {...}} -> qv.Sampler
            A sampler that is another program (searched in PATH), run once per s:sample call.
            Its standard input gets one JSON object (variables 0-based, dimod's names):
              {"format": "qvlua-problem-1", "vartype": "SPIN", "num_variables": N,
               "num_reads": n, "linear": [h...], "quadratic": [[u, v, J], ...],
               "offset": c, "params": {...}}
            to be sampled from p(x) ∝ exp(-E(x)), E = Σ linear x + Σ quadratic x_u x_v + offset:
            problem = "ising": x = ±1, the machine's Ising form (bm:to_ising(); E equals H);
            problem = "qubo": vartype "BINARY", x = 0/1, linear = bias, quadratic = weights.
            It must print n lines of N values (±1 for ising, 0/1 for qubo) separated by spaces
            or commas ('#' lines are skipped) and exit with status 0. A non-zero exit, bad
            output, or running past timeout seconds (the program is killed) is an error
            quoting its standard error. Ctrl-C kills it. params: a table of strings, numbers
            and booleans passed through. stats: seconds, reads.
            """) { args in
            try args.expectAtMost(1)
            let (argv, o) = try args.mixedTable(1, "command", allowed: ["timeout", "problem", "params"])
            guard !argv.isEmpty else { throw args.argumentError(1, "command", "no program given (put it first: {\"prog\", ...})") }
            let timeout = try o.number("timeout", default: 60)
            let problem = try o.string("problem", default: "ising")
            guard let pr = CommandSampler.Problem(rawValue: problem) else {
                throw args.optionError("problem", "expected 'ising' or 'qubo', got '\(problem)'")
            }
            var params: [String: JSON] = [:]
            var shown: [String: LuaValue] = [:]
            if o.has("params") {
                guard case .ref(let t) = o.value("params"), t.typeName == "table" else {
                    throw args.optionError("params", "expected a table")
                }
                for (k, v) in luaStringKeyedPairs(t, state: args.state) {
                    if k.hasPrefix("\u{0}") { throw args.optionError("params", "keys must be strings, got \(k.dropFirst())") }
                    switch v {
                    case .int(let i): params[k] = .int(i)
                    case .number(let d): params[k] = .number(d)
                    case .string(let s): params[k] = .string(s)
                    case .bool(let b): params[k] = .bool(b)
                    default: throw args.optionError("params", "'\(k)' must be a string, number or boolean, got \(v.typeName)")
                    }
                    shown[k] = v
                }
            }
            let cs = try validated(args, CommandSampler(arguments: argv, timeout: timeout, problem: pr, params: params))
            return .object(SamplerBox("command", cs, [
                ("command", .string(cs.commandLine)), ("timeout", .number(timeout)), ("problem", .string(problem)),
                ("params", .table(shown)),
            ]))
        }
    }
}
