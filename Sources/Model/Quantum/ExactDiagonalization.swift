#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
import Runtime
import CBLAS

/// Exact quantities of a small QBM (the ground truth for the quantum
/// samplers and estimators), in the conventions of `QuantumBoltzmannMachine`
/// (σz = 2z − 1, H = Σ Γ σx + H_cl).
public struct QuantumExactMoments: Sendable {
    /// log Z = log Tr e^{−H}.
    public let logZ: Double
    /// The diagonal distribution p(z) = ⟨z|e^{−H}|z⟩ / Z (Eq. 13), indexed
    /// by the state whose bit l is z_l (2^N entries).
    public let probabilities: [Double]
    /// ⟨z_l⟩ and ⟨z_u z_v⟩ per edge under p(z): the negative phase of Eq. 16.
    public let means: [Double]
    public let edgeMeans: [Double]
    /// ⟨σz_l⟩ = 2⟨z_l⟩ − 1 and ⟨σz_u σz_v⟩ per edge.
    public let sigmaZ: [Double]
    public let sigmaZZ: [Double]
    /// ⟨σx_l⟩ (negative for Γ_l > 0 under Eq. 13's +Γσx), or empty when
    /// not computed (the Trotterized matrix).
    public let sigmaX: [Double]
}

/// Exact diagonalization of the 2^N × 2^N QBM Hamiltonian with LAPACK's
/// symmetric eigensolver (dsyevd from OpenBLAS). Memory is about 3 × 8·4^N
/// bytes with dsyevd's workspace (0.4 GiB at N = 12, 6 GiB at N = 14) and
/// time O(8^N): seconds at N = 10–12 on two cores, many minutes at N = 14.
/// Ctrl-C is checked between the phases, not inside LAPACK.
public enum QuantumExact {
    public static let maxUnits = 14

    static func check(_ q: QuantumBoltzmannMachine) throws {
        try require(q.units >= 1, "exact diagonalization: the machine has no units")
        try require(q.units <= maxUnits,
                    "exact diagonalization supports at most \(maxUnits) units, the machine has \(q.units)")
        try require(q.machine.bias.allSatisfy { $0.isFinite } && q.machine.weights.allSatisfy { $0.isFinite },
                    "exact diagonalization: parameters must be finite")
        let bytes = memoryBytes(units: q.units)
        try require(bytes <= Storage.maxBytes,
                    "exact diagonalization: cannot allocate \(bytes) bytes for the 2^\(q.units) × 2^\(q.units) matrix and its eigensolver workspace (the machine has \(Storage.maxBytes) bytes of memory)")
    }

    /// Bytes a diagonalization of N units holds at once: the 2^N × 2^N
    /// matrix of doubles and dsyevd's workspace (about twice that again).
    static func memoryBytes(units n: Int) -> Int { 3 * 8 << (2 * n) }

    /// H_cl(z) for every state z (bit l = z_l).
    static func diagonal(_ bm: BoltzmannMachine) throws -> [Double] {
        var d = [Double](repeating: 0, count: 1 << bm.units)
        try ExactSampler.enumerate(bm) { bits, e in d[Int(bits)] = e }
        return d
    }

    /// Eigenvalues (ascending) of the symmetric n×n matrix `a` (column-major);
    /// on return `a` holds the eigenvectors in its columns.
    static func eigen(_ a: inout [Double], n: Int) throws -> [Double] {
        var w = [Double](repeating: 0, count: n)
        var nn = Int32(n), lda = Int32(n), info: Int32 = 0
        var lwork: Int32 = -1, liwork: Int32 = -1
        var wq = 0.0, iq: Int32 = 0
        dsyevd_("V", "L", &nn, &a, &lda, &w, &wq, &lwork, &iq, &liwork, &info)
        try require(info == 0, "exact diagonalization: dsyevd workspace query failed (info \(info))")
        lwork = Int32(wq); liwork = iq
        var work = [Double](repeating: 0, count: Int(lwork))
        var iwork = [Int32](repeating: 0, count: Int(liwork))
        dsyevd_("V", "L", &nn, &a, &lda, &w, &work, &lwork, &iwork, &liwork, &info)
        try require(info == 0, "exact diagonalization: dsyevd failed (info \(info))")
        return w
    }

    /// Moments of p(z) from the diagonal of a spectral function:
    /// p(z) ∝ Σ_k V[z,k]² c_k with weights c_k ≥ 0 or signed (Trotter).
    static func diagonalMoments(_ q: QuantumBoltzmannMachine, vectors v: [Double], weights c: [Double],
                                logZ: Double, sigmaX: [Double]) throws -> QuantumExactMoments {
        let n = 1 << q.units, N = q.units
        var p = [Double](repeating: 0, count: n)
        var total = 0.0
        for k in 0..<n where c[k] != 0 {
            let ck = c[k], col = k * n
            for z in 0..<n { p[z] += v[col + z] * v[col + z] * ck }
            if k & 63 == 0 { try Interrupt.check() }
        }
        for z in 0..<n { p[z] = max(0, p[z]); total += p[z] }
        for z in 0..<n { p[z] /= total }
        var m = [Double](repeating: 0, count: N)
        var em = [Double](repeating: 0, count: q.graph.edgeCount)
        for z in 0..<n where p[z] > 0 {
            for l in 0..<N where z >> l & 1 == 1 { m[l] += p[z] }
            for (k, e) in q.graph.edges.enumerated() where z >> e.u & 1 == 1 && z >> e.v & 1 == 1 { em[k] += p[z] }
        }
        // ⟨σz_u σz_v⟩ = 4⟨z_u z_v⟩ − 2⟨z_u⟩ − 2⟨z_v⟩ + 1
        let szz = q.graph.edges.enumerated().map { k, e in 4 * em[k] - 2 * m[e.u] - 2 * m[e.v] + 1 }
        return QuantumExactMoments(logZ: logZ, probabilities: p, means: m, edgeMeans: em,
                                   sigmaZ: m.map { 2 * $0 - 1 }, sigmaZZ: szz, sigmaX: sigmaX)
    }

    /// log Z, p(z), ⟨z⟩, ⟨z z⟩, ⟨σz⟩, ⟨σz σz⟩ and ⟨σx⟩ of the QBM, exactly.
    public static func moments(_ q: QuantumBoltzmannMachine) throws -> QuantumExactMoments {
        try check(q)
        let N = q.units, n = 1 << N
        let d = try diagonal(q.machine)
        var h = [Double](repeating: 0, count: n * n)
        for z in 0..<n {
            h[z * n + z] = d[z]
            for l in 0..<N where q.gamma[l] != 0 { h[z * n + (z ^ (1 << l))] = Double(q.gamma[l]) }
        }
        try Interrupt.check()
        let e = try eigen(&h, n: n)
        let e0 = e[0]
        let c = e.map { exp(-($0 - e0)) }
        let sum = c.reduce(0, +)
        // ⟨σx_l⟩ = Σ_k c_k ⟨v_k|σx_l|v_k⟩ / Σ c
        var sx = [Double](repeating: 0, count: N)
        for k in 0..<n where c[k] > 1e-300 {
            let col = k * n
            for l in 0..<N {
                var acc = 0.0
                let bit = 1 << l
                for z in 0..<n { acc += h[col + z] * h[col + (z ^ bit)] }
                sx[l] += c[k] * acc
            }
            if k & 63 == 0 { try Interrupt.check() }
        }
        return try diagonalMoments(q, vectors: h, weights: c, logZ: -e0 + log(sum), sigmaX: sx.map { $0 / sum })
    }

    /// log Z only (eigenvalues; no moments).
    public static func logZ(_ q: QuantumBoltzmannMachine) throws -> Double {
        try moments(q).logZ
    }

    /// The exact M-slice Suzuki–Trotter system that path-integral Monte Carlo
    /// samples: Z_M = Tr (e^{−H_cl/M} e^{−Σ Γσx/M})^M and p_M(z) its
    /// slice-0 diagonal, by diagonalizing A = D^{½} X D^{½} (D = e^{−H_cl/M},
    /// X = ⊗_l e^{+Γ_l σx_l/M}, which has the same spectrum as with −Γ) so
    /// that Z_M = Σ_k a_k^M. Converges to `moments` as O(1/M²). ⟨σx⟩ is not
    /// computed (empty).
    public static func trotterMoments(_ q: QuantumBoltzmannMachine, slices m: Int) throws -> QuantumExactMoments {
        try check(q)
        try require(m >= 1, "trotter moments: slices must be >= 1, got \(m)")
        let N = q.units, n = 1 << N
        let d = try diagonal(q.machine)
        let dmin = d.min()!
        let half = d.map { exp(-($0 - dmin) / (2 * Double(m))) }
        let ch = q.gamma.map { cosh(Double($0) / Double(m)) }, sh = q.gamma.map { sinh(Double($0) / Double(m)) }
        var a = [Double](repeating: 0, count: n * n)
        for z in 0..<n {
            for y in 0..<n {
                let x = z ^ y
                var v = 1.0
                for l in 0..<N { v *= x >> l & 1 == 1 ? sh[l] : ch[l] }
                a[z * n + y] = half[z] * v * half[y]
            }
            if z & 63 == 0 { try Interrupt.check() }
        }
        let e = try eigen(&a, n: n)
        let amax = e.map { abs($0) }.max()!
        try require(amax > 0, "trotter moments: degenerate transfer matrix")
        let c = e.map { pow($0 / amax, Double(m)) }
        let logZ = -dmin + Double(m) * log(amax) + log(c.reduce(0, +))
        return try diagonalMoments(q, vectors: a, weights: c, logZ: logZ, sigmaX: [])
    }
}
