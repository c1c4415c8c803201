import Runtime
import CModelKernels

/// Chains stored for the sweep kernels: tiles of `tileWidth` chains, each
/// tile unit-major and 64-byte aligned (unit l of chain c of tile t at
/// t·units·T + l·T + c). The chain count is padded to a whole number of
/// tiles; padding chains are simulated but never returned.
final class ChainState {
    static let tileWidth = 32
    let units: Int
    let chains: Int
    let tiles: Int
    let pointer: UnsafeMutablePointer<Float>
    var tileSize: Int { units * ChainState.tileWidth }
    var paddedChains: Int { tiles * ChainState.tileWidth }

    init(units: Int, chains: Int) {
        self.units = units
        self.chains = chains
        self.tiles = (chains + ChainState.tileWidth - 1) / ChainState.tileWidth
        let n = max(1, tiles * units * ChainState.tileWidth)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: n * 4, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: n)
        pointer.initialize(repeating: 0, count: n)
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }

    @inline(__always) func offset(chain c: Int, unit l: Int) -> Int {
        let T = ChainState.tileWidth
        return (c / T) * units * T + l * T + (c % T)
    }

    func tile(_ t: Int) -> UnsafeMutablePointer<Float> { pointer + t * tileSize }

    /// Chain-major copy of the first `chains` chains (chains × units).
    func extract(count: Int? = nil) -> [Float] {
        let k = count ?? chains
        var out = [Float](repeating: 0, count: k * units)
        let T = ChainState.tileWidth
        out.withUnsafeMutableBufferPointer { o in
            for c in 0..<k {
                let base = pointer + (c / T) * units * T + (c % T)
                for l in 0..<units { o[c * units + l] = base[l * T] }
            }
        }
        return out
    }

    /// Loads chain-major samples (chains × units) into chains 0..<chains;
    /// padding chains get copies of chain 0.
    func load(_ samples: UnsafeBufferPointer<Float>) {
        for c in 0..<paddedChains {
            let src = c < chains ? c : 0
            for l in 0..<units { pointer[offset(chain: c, unit: l)] = samples[src * units + l] }
        }
    }

    /// Sets every chain by `value(chain, unit)`.
    func fill(_ value: (Int, Int) -> Float) {
        for c in 0..<paddedChains { for l in 0..<units { pointer[offset(chain: c, unit: l)] = value(c, l) } }
    }

    /// Copies chain `parents[c − range.lowerBound]` of `source` into chain c
    /// for c in `range` (resampling); parallel over destination tiles.
    func gather(from source: ChainState, parents: [Int], range: Range<Int>) {
        let T = ChainState.tileWidth
        guard !range.isEmpty else { return }
        let firstTile = range.lowerBound / T, lastTile = (range.upperBound - 1) / T
        let n = units, src = source.pointer, dst = pointer
        parents.withUnsafeBufferPointer { par in
            Parallel.forEachRange(count: lastTile - firstTile + 1, minimum: 8) { tiles in
                var srcOff = [Int](repeating: 0, count: T)
                for t in tiles {
                    let tile = firstTile + t
                    let lo = max(range.lowerBound, tile * T), hi = min(range.upperBound, (tile + 1) * T)
                    for c in lo..<hi {
                        let p = par[c - range.lowerBound]
                        srcOff[c - lo] = (p / T) * n * T + (p % T)
                    }
                    let d = dst + tile * n * T + (lo - tile * T)
                    for l in 0..<n {
                        let row = d + l * T, lt = l * T
                        for i in 0..<(hi - lo) { row[i] = src[srcOff[i] + lt] }
                    }
                }
            }
        }
    }

    /// Copies chain src → chain dst for every pair, within this state. The
    /// sources must not be destinations of other pairs.
    func copyChains(_ pairs: [(dst: Int, src: Int)]) {
        let T = ChainState.tileWidth, n = units
        for (d, s) in pairs {
            let dp = pointer + (d / T) * n * T + (d % T), sp = pointer + (s / T) * n * T + (s % T)
            for l in 0..<n { dp[l * T] = sp[l * T] }
        }
    }

    /// Copies chains `range` from `source` unchanged.
    func copy(from source: ChainState, range: Range<Int>) {
        gather(from: source, parents: Array(range), range: range)
    }
}

/// Per-sweep schedule for the kernel: bias scale bb, weight scale bw, and
/// the log-weight coefficients cb, cw applied before each sweep (AIS).
struct SweepSchedule {
    var bb: [Float]
    var bw: [Float]
    var cb: [Float]? = nil
    var cw: [Float]? = nil
    var count: Int { bb.count }

    static func constant(beta: Float, sweeps: Int) -> SweepSchedule {
        SweepSchedule(bb: [Float](repeating: beta, count: sweeps), bw: [Float](repeating: beta, count: sweeps))
    }
}

/// Runs `total` sweeps in blocks of about `updates` unit updates per tile
/// (`perSweep` per sweep): `body(start, n, last)` runs sweeps
/// start..<start+n, and Ctrl-C is checked after each block. There is always
/// at least one block (n = 0 when `total` is 0, so that final energies are
/// still computed).
func forEachSweepBlock(total: Int, perSweep: Int, updates: Int,
                       _ body: (_ start: Int, _ n: Int, _ last: Bool) -> Void) throws {
    let block = max(1, min(total, updates / max(1, perSweep)))
    var start = 0
    repeat {
        let n = min(block, total - start)
        body(start, n, start + n >= total)
        start += n
        try Interrupt.check()
    } while start < total
}

/// A model prepared for the C sweep kernels: CSR weights, bias and the
/// update order (independent sets one after another).
struct SweepKernel {
    enum Mode: Int32 { case heatBath = 0, metropolis = 1 }
    let units: Int
    let order: [Int32]
    let rowStart: [Int32]
    let neighbors: [Int32]
    let w: [Float]
    let bias: [Float]

    init(graph: Graph, bias: [Float], weights: [Float]) {
        units = graph.nodeCount
        order = graph.independentSets.flatMap { $0 }.map { Int32($0) }
        rowStart = graph.rowStart
        neighbors = graph.neighbors
        w = graph.neighborEdge.map { weights[Int($0)] }
        self.bias = bias
    }

    init(_ bm: BoltzmannMachine) { self.init(graph: bm.graph, bias: bm.bias, weights: bm.weights) }

    /// Per-tile generators split from `generator` (one stream per tile, so
    /// results do not depend on the thread count).
    static func makeStreams(tiles: Int, generator: inout Generator) -> [qvm_rng_t] {
        (0..<tiles).map { _ in
            var r = qvm_rng_t()
            qvm_rng_seed(&r, generator.next())
            return r
        }
    }

    /// Runs the schedule on every tile, in parallel over tiles, checking for
    /// Ctrl-C between blocks of sweeps. `logw` (paddedChains) accumulates
    /// the AIS log-weights; `eb`/`ew` (paddedChains) receive the final
    /// bias and coupling energies.
    func run(_ mode: Mode, state: ChainState, streams: inout [qvm_rng_t], schedule: SweepSchedule,
             logw: UnsafeMutablePointer<Double>? = nil,
             eb: UnsafeMutablePointer<Double>? = nil, ew: UnsafeMutablePointer<Double>? = nil) throws {
        precondition(streams.count == state.tiles && state.units == units)
        let T = ChainState.tileWidth
        // Blocks of roughly 2^22 unit updates per tile between interrupt checks.
        try forEachSweepBlock(total: schedule.count, perSweep: units * T, updates: 1 << 22) { start, n, last in
            order.withUnsafeBufferPointer { op in
            rowStart.withUnsafeBufferPointer { rp in
            neighbors.withUnsafeBufferPointer { np in
            w.withUnsafeBufferPointer { wp in
            bias.withUnsafeBufferPointer { bp in
            schedule.bb.withUnsafeBufferPointer { bbp in
            schedule.bw.withUnsafeBufferPointer { bwp in
            (schedule.cb ?? []).withUnsafeBufferPointer { cbp in
            (schedule.cw ?? []).withUnsafeBufferPointer { cwp in
            streams.withUnsafeMutableBufferPointer { sp in
                Parallel.forEachChunk(count: state.tiles, chunks: state.tiles) { t, _ in
                    let off = t * T
                    qvm_sweeps(Int32(mode.rawValue), Int32(units), op.baseAddress, rp.baseAddress, np.baseAddress,
                               wp.baseAddress, bp.baseAddress, state.tile(t), Int32(T), Int32(n),
                               bbp.baseAddress.map { $0 + start }, bwp.baseAddress.map { $0 + start },
                               logw == nil ? nil : cbp.baseAddress.map { $0 + start },
                               logw == nil ? nil : cwp.baseAddress.map { $0 + start },
                               logw.map { $0 + off },
                               last ? eb.map { $0 + off } : nil,
                               last ? ew.map { $0 + off } : nil,
                               sp.baseAddress! + t)
                }
            } } } } } } } } } }
        }
    }

    /// Bias and coupling energies of every chain (no sweeps). Throws
    /// `Interrupt.Interrupted` if Ctrl-C is pending (like `run`, whose
    /// check clears the flag, so the error must reach the caller).
    func energies(state: ChainState, mode: Mode = .heatBath) throws -> (eb: [Double], ew: [Double]) {
        var eb = [Double](repeating: 0, count: state.paddedChains)
        var ew = [Double](repeating: 0, count: state.paddedChains)
        var streams = [qvm_rng_t](repeating: qvm_rng_t(), count: state.tiles)
        let empty = SweepSchedule(bb: [], bw: [])
        try eb.withUnsafeMutableBufferPointer { e1 in
            try ew.withUnsafeMutableBufferPointer { e2 in
                try run(mode, state: state, streams: &streams, schedule: empty,
                         eb: e1.baseAddress, ew: e2.baseAddress)
            }
        }
        return (eb, ew)
    }
}

/// Information about the sampling kernels.
public enum SamplerInfo {
    /// Instruction set the sweep kernels run with: "avx512", "avx2" or "generic".
    public static var kernelLevel: String {
        switch qvm_kernel_level() { case 2: return "avx512"; case 1: return "avx2"; default: return "generic" }
    }

    /// Caps the kernel instruction set (0 generic, 1 AVX2, 2 AVX-512, nil =
    /// automatic), for tests and comparisons. Call only while no sampler runs.
    public static func limitKernelLevel(_ level: Int?) { qvm_set_kernel_level(Int32(level ?? -1)) }
}
