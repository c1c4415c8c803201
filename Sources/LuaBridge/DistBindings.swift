import CMPI
import Runtime
#if canImport(Glibc)
import Glibc
#endif

// `qv.dist`: the MPI world of this process (Open MPI, through the C shim in
// Sources/CMPI). Without mpirun it is a world of size 1: MPI is never
// initialized, collectives return their argument, nothing is slower and
// nothing is printed.

/// The process's place in the MPI world.
public enum Dist {
    /// (rank, size) once known.
    nonisolated(unsafe) static var world: (rank: Int, size: Int)?
    /// Whether this process called MPI_Init (and must finalize or abort).
    public nonisolated(unsafe) static var initialized = false

    /// Whether a launcher (mpirun, srun with PMIx) started this process as
    /// part of an MPI job: then MPI is initialized on first use.
    public static var launchedByMPI: Bool {
        for v in ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"] where getenv(v) != nil { return true }
        return false
    }

    /// Initializes MPI when launched by mpirun (once); returns (rank, size).
    /// A process started plainly is rank 0 of 1 and never touches MPI.
    @discardableResult
    public static func start() throws -> (rank: Int, size: Int) {
        if let w = world { return w }
        guard launchedByMPI else { world = (0, 1); return (0, 1) }
        if qv_mpi_initialized() == 0 {
            let rc = qv_mpi_init()
            guard rc == 0 else { throw TensorError("qv.dist: MPI_Init failed (\(errorText(rc)))") }
            initialized = true
        }
        let w = (rank: Int(qv_mpi_rank()), size: Int(qv_mpi_size()))
        world = w
        // Ranks sharing a machine share its cores: each gets its part of the
        // kernels' threads (1 thread per rank when ranks ≥ cores), unless
        // QVLUA_THREADS says otherwise.
        let local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE").flatMap { Int(String(cString: $0)) } ?? 1
        let cores = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        if let t = getenv("QVLUA_THREADS").flatMap({ Int(String(cString: $0)) }) ?? (local > 1 ? max(1, cores / local) : nil) {
            Parallel.threads = max(1, t)
            BLASKernels.setThreads(max(1, t))
        }
        return w
    }

    /// The rank (0 without mpirun), without initializing MPI.
    public static var rankIfStarted: Int? { world.map(\.rank) }
    public static var sizeIfStarted: Int? { world.map(\.size) }

    static func errorText(_ rc: Int32) -> String {
        var buf = [CChar](repeating: 0, count: 1024)
        _ = qv_mpi_error_string(rc, &buf, Int32(buf.count))
        let s = String(cString: buf)
        return s.isEmpty ? "MPI error \(rc)" : s
    }

    static func check(_ rc: Int32, _ what: String) throws {
        guard rc == 0 else { throw TensorError("qv.dist.\(what): \(errorText(rc))") }
    }

    /// Ends MPI at a normal exit (every rank must get here).
    public static func finish() {
        if initialized && qv_mpi_finalized() == 0 { _ = qv_mpi_finalize() }
    }

    /// Ends the whole job after an error on this rank (the other ranks may
    /// be waiting in a collective): MPI_Abort, which makes mpirun kill every
    /// rank and report this one. Does nothing in a world of size 1.
    public static func abortIfShared(code: Int32 = 1) {
        guard initialized, qv_mpi_finalized() == 0, let w = world, w.size > 1 else { return }
        qv_mpi_abort(code)
    }

    /// "rank 2 of 3: " while part of a larger world, else "".
    public static var messagePrefix: String {
        guard let w = world, w.size > 1 else { return "" }
        return "rank \(w.rank) of \(w.size): "
    }

    /// Sum (op 0), max (1), min (2) or product (3) over ranks, in place.
    public static func allreduce(_ buf: UnsafeMutablePointer<Float>, _ n: Int, op: Int32) throws {
        guard let w = world, w.size > 1, n > 0 else { return }
        try check(qv_mpi_allreduce_float(buf, Int32(n), op), "allreduce")
    }
    public static func allreduce(_ buf: UnsafeMutablePointer<Double>, _ n: Int, op: Int32) throws {
        guard let w = world, w.size > 1, n > 0 else { return }
        try check(qv_mpi_allreduce_double(buf, Int32(n), op), "allreduce")
    }
}

private let reduceOps: [String: Int32] = ["sum": 0, "max": 1, "min": 2, "prod": 3, "mean": 0]

extension QV {
    /// `qv.dist`: rank, size and collectives over the MPI world.
    public static func openDist(_ state: LuaState) {
        let dist = state.module("qv.dist", doc: """
            qv.dist — the MPI world of this process (Open MPI). Run a script under
            `mpirun -np N qvlua script.lua` and every process is one rank; run it plainly and it is rank 0
            of a world of size 1, where every collective returns its argument unchanged.
            qv.dist.rank(), qv.dist.size(), qv.dist.allreduce(x [, op]), qv.dist.broadcast(x [, root]),
            qv.dist.gather(x [, root]), qv.dist.allgather(x), qv.dist.barrier(),
            qv.dist.allreduce_grads(params [, {scale =, values =}]), qv.dist.abort(message [, code]).
            Every rank must make the same collective calls in the same order with the same shapes.
            """)
        func world(_ a: Arguments) throws -> (rank: Int, size: Int) {
            do { return try Dist.start() } catch let e as TensorError { throw a.error(e.message) }
        }
        func root(_ a: Arguments, _ i: Int, _ size: Int) throws -> Int {
            let r = try a.optionalInt(i, "root") ?? 0
            guard r >= 0, r < size else { throw a.argumentError(i, "root", "must be a rank in 0...\(size - 1), got \(r)") }
            return r
        }
        func mpi(_ a: Arguments, _ body: () throws -> LuaValue) throws -> LuaValue {
            do { return try body() } catch let e as TensorError { throw a.error(e.message) }
        }
        dist.fn("rank", doc: "qv.dist.rank() -> r\nThis process's rank, 0-based (0 without mpirun).") { a in
            try a.expectAtMost(0); return .int(try world(a).rank)
        }
        dist.fn("size", doc: "qv.dist.size() -> n\nThe number of ranks (1 without mpirun).") { a in
            try a.expectAtMost(0); return .int(try world(a).size)
        }
        dist.fn("initialized", doc: """
            qv.dist.initialized() -> boolean
            Whether MPI is running in this process (launched by mpirun and qv.dist used); does not start it.
            """) { _ in .bool(Dist.initialized) }
        dist.fn("barrier", doc: "qv.dist.barrier()\nWaits until every rank has called it.") { a in
            try a.expectAtMost(0)
            let w = try world(a)
            if w.size > 1 { try mpi(a) { try Dist.check(qv_mpi_barrier(), "barrier"); return .none } }
            return .none
        }
        dist.fn("allreduce", doc: """
            qv.dist.allreduce(x [, op]) -> x
            Reduces over all ranks: op "sum" (default), "mean", "max", "min" or "prod". A tensor is
            reduced in place (float32; contiguous) and returned; a number is reduced in double precision
            and the result returned. Every rank gets the result.
            """) { a in
            try a.expectAtMost(2)
            let opName = try a.optionalString(2, "op") ?? "sum"
            guard let op = reduceOps[opName] else {
                throw a.argumentError(2, "op", "expected sum, mean, max, min or prod, got '\(opName)'")
            }
            let w = try world(a)
            if let x = a.value(1).doubleValue {
                var v = x
                try mpi(a) { try Dist.allreduce(&v, 1, op: op); return .none }
                return .number(opName == "mean" ? v / Double(w.size) : v)
            }
            let t = try a.object(1, Tensor.self, "x")
            guard t.isContiguous else { throw a.argumentError(1, "x", "the tensor must be contiguous (t:contiguous())") }
            try mpi(a) {
                try Dist.allreduce(t.data, t.count, op: op)
                if opName == "mean" && w.size > 1 {
                    let s = 1 / Float(w.size)
                    for i in 0..<t.count { t.data[i] *= s }
                }
                return .none
            }
            return .object(t)
        }
        dist.fn("broadcast", doc: """
            qv.dist.broadcast(x [, root]) -> x
            Root's x on every rank (root 0 by default): a tensor is overwritten in place (same shape on
            every rank) and returned; a number, string or boolean is returned.
            """) { a in
            try a.expectAtMost(2)
            let w = try world(a)
            let r = try root(a, 2, w.size)
            let v = a.value(1)
            if w.size == 1 {
                if case .none = v { throw a.argumentError(1, "x", "expected a tensor, number, string or boolean") }
                return v
            }
            return try mpi(a) {
                switch v {
                case .int(let i):
                    var x = i
                    try Dist.check(qv_mpi_bcast_bytes(&x, Int32(MemoryLayout<Int>.size), Int32(r)), "broadcast")
                    return .int(x)
                case .number(let d):
                    var x = d
                    try Dist.check(qv_mpi_bcast_bytes(&x, 8, Int32(r)), "broadcast")
                    return .number(x)
                case .bool(let b):
                    var x: UInt8 = b ? 1 : 0
                    try Dist.check(qv_mpi_bcast_bytes(&x, 1, Int32(r)), "broadcast")
                    return .bool(x != 0)
                case .string(let s):
                    var bytes = Array(s.utf8)
                    var n = bytes.count
                    try Dist.check(qv_mpi_bcast_bytes(&n, Int32(MemoryLayout<Int>.size), Int32(r)), "broadcast")
                    if w.rank != r { bytes = [UInt8](repeating: 0, count: n) }
                    if n > 0 { try Dist.check(qv_mpi_bcast_bytes(&bytes, Int32(n), Int32(r)), "broadcast") }
                    return .string(String(decoding: bytes, as: UTF8.self))
                default:
                    let t = try a.object(1, Tensor.self, "x")
                    guard t.isContiguous else { throw a.argumentError(1, "x", "the tensor must be contiguous") }
                    var n = t.count
                    try Dist.check(qv_mpi_bcast_bytes(&n, Int32(MemoryLayout<Int>.size), Int32(r)), "broadcast")
                    guard n == t.count else {
                        throw TensorError("qv.dist.broadcast: root's tensor has \(n) values, this rank's \(t.count)")
                    }
                    try Dist.check(qv_mpi_bcast_bytes(t.data, Int32(4 * n), Int32(r)), "broadcast")
                    return .object(t)
                }
            }
        }
        func gather(_ a: Arguments, all: Bool) throws -> LuaValue {
            let w = try world(a)
            let r = all ? -1 : try root(a, 2, w.size)
            let receives = all || w.rank == r
            let v = a.value(1)
            if case .string(let s) = v {
                // Variable length: lengths first, then the bytes (root only).
                var n = Int32(s.utf8.count)
                var counts = [Int32](repeating: 0, count: w.size)
                if w.size == 1 { counts[0] = n } else {
                    try mpi(a) { try Dist.check(qv_mpi_gather_int(&n, 1, &counts, Int32(all ? -1 : r)), "gather"); return .none }
                }
                if all && w.size > 1 { throw a.argumentError(1, "x", "allgather takes tensors and numbers; gather strings onto a root") }
                var displs = [Int32](repeating: 0, count: w.size)
                for i in 1..<max(1, w.size) { displs[i] = displs[i - 1] + counts[i - 1] }
                var recv = [UInt8](repeating: 0, count: receives ? Int(counts.reduce(0, +)) : 0)
                var send = Array(s.utf8)
                if w.size == 1 { recv = send } else {
                    try mpi(a) {
                        try Dist.check(qv_mpi_gatherv_bytes(&send, n, &recv, counts, displs, Int32(r)), "gather"); return .none
                    }
                }
                guard receives else { return .nil }
                return .array((0..<w.size).map { i in
                    .string(String(decoding: recv[Int(displs[i])..<Int(displs[i] + counts[i])], as: UTF8.self))
                })
            }
            if let x = v.doubleValue {
                var send = Float(x)
                var recv = [Float](repeating: 0, count: w.size)
                if w.size == 1 { recv[0] = send } else {
                    try mpi(a) { try Dist.check(qv_mpi_gather_float(&send, 1, &recv, Int32(r)), "gather"); return .none }
                }
                return receives ? .numbers(recv) : .nil
            }
            let t = try a.object(1, Tensor.self, "x").contiguous()
            let out = try Tensor.zeros([w.size] + t.shape)
            if w.size == 1 { out.data.update(from: t.data, count: t.count) } else {
                try mpi(a) { try Dist.check(qv_mpi_gather_float(t.data, Int32(t.count), out.data, Int32(r)), "gather"); return .none }
            }
            return receives ? .object(out) : .nil
        }
        dist.fn("gather", doc: """
            qv.dist.gather(x [, root]) -> on root: a tensor [size, ...] (x of every rank, in rank order),
            an array of numbers, or an array of strings; nil on the other ranks. Tensors must have the same
            shape on every rank; strings may differ in length.
            """) { a in try a.expectAtMost(2); return try gather(a, all: false) }
        dist.fn("allgather", doc: """
            qv.dist.allgather(x) -> a tensor [size, ...] or an array of numbers, on every rank.
            """) { a in try a.expectAtMost(1); return try gather(a, all: true) }
        dist.fn("allreduce_grads", doc: """
            qv.dist.allreduce_grads(params [, {scale = w, values = {v1, ...}}]) -> {sum of w*v1, ...}
            Data-parallel gradients in one message: every parameter's .grad (parameters without one are
            skipped: they must be the same on every rank) and the numbers `values`, all multiplied by this
            rank's weight w (default 1/size), summed over ranks in one fused float32 buffer and written
            back to .grad. Returns the reduced values. With size 1 and w = 1 nothing changes.
            """) { a in
            try a.expectAtMost(2)
            let ps = try a.objects(1, Tensor.self, "params")
            let o = try a.options(2, allowed: ["scale", "values"])
            let w = try world(a)
            let scale = try o.optionalNumber("scale") ?? 1 / Double(w.size)
            var values: [Double] = []
            if o.has("values") {
                guard case .ref(let r) = o.value("values"), r.typeName == "table" else {
                    throw ArgumentError("bad option 'values' to '\(a.function)' (expected an array of numbers)")
                }
                values = try r.arrayValues().map { v in
                    guard let d = v.doubleValue else {
                        throw ArgumentError("bad option 'values' to '\(a.function)' (expected an array of numbers)")
                    }
                    return d
                }
            }
            let grads = ps.compactMap(\.grad)
            let n = grads.reduce(0) { $0 + $1.count } + values.count
            var buf = [Float](repeating: 0, count: n)
            let s = Float(scale)
            var off = 0
            for g in grads {
                let c = g.contiguous()
                for i in 0..<c.count { buf[off + i] = c.data[i] * s }
                off += c.count
            }
            for (i, v) in values.enumerated() { buf[off + i] = Float(v * scale) }
            try mpi(a) {
                try buf.withUnsafeMutableBufferPointer { try Dist.allreduce($0.baseAddress!, n, op: 0) }
                return .none
            }
            off = 0
            for (p, g) in zip(ps.filter { $0.grad != nil }, grads) {
                let out = try Tensor.zeros(g.shape)
                buf.withUnsafeBufferPointer { out.data.update(from: $0.baseAddress! + off, count: g.count) }
                p.grad = out
                off += g.count
            }
            return .numbers((0..<values.count).map { Double(buf[off + $0]) })
        }
        dist.fn("exiting", doc: """
            qv.dist.exiting([code])
            What os.exit does first under mpirun: a successful exit (code true, 0 or none) finalizes MPI,
            a failing one aborts the whole job (no rank left waiting). Nothing without mpirun.
            """) { a in
            let v = a.value(1)
            var ok = true
            switch v {
            case .bool(let b): ok = b
            case .int(let i): ok = i == 0
            case .number(let d): ok = d == 0
            default: ok = true
            }
            if ok { Dist.finish() } else {
                let code: Int32
                if case .int(let i) = v { code = Int32(truncatingIfNeeded: i) } else { code = 1 }
                Dist.abortIfShared(code: code)
            }
            return .none
        }
        dist.fn("abort", doc: """
            qv.dist.abort(message [, code])
            Prints "rank R of N: message" on stderr and ends the whole job (MPI_Abort; every rank is
            killed). Without mpirun: prints the message and exits with code (default 1).
            """) { a in
            let msg = try a.string(1, "message")
            let code = try a.optionalInt(2, "code") ?? 1
            _ = try? Dist.start()
            fflush(stdout)
            fputs("qvlua: \(Dist.messagePrefix)\(msg)\n", stderr)
            fflush(stderr)
            Dist.abortIfShared(code: Int32(truncatingIfNeeded: code))
            exit(Int32(truncatingIfNeeded: code))
        }
        // os.exit skips qvlua's own ending: finalize (or abort) MPI first.
        try? state.run("""
            local exit, exiting = os.exit, qv.dist.exiting
            os.exit = function(code, close) exiting(code); return exit(code, close) end
            """, name: "=(qv.dist)")
    }
}
