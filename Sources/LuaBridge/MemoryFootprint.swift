import Model
import Runtime

/// Estimates of the Swift memory a Lua-visible object holds, reported to
/// Lua's collector when the object is pushed (`LuaClass.extraBytes`), so
/// that a loop creating and dropping priors, modules, optimizers, graphs or
/// VAEs runs in bounded memory without `collectgarbage()`. Estimates, not
/// accounting: they need only be proportional to the real size.
enum MemoryFootprint {
    static let float = MemoryLayout<Float>.stride

    /// A tensor's storage (shared storage is counted once per holder).
    static func bytes(_ t: Tensor) -> Int { t.storage.count &* float }

    /// Parameters and their gradients.
    static func bytes(parameters ps: [Tensor]) -> Int { ps.reduce(0) { $0 &+ 2 &* bytes($1) } }

    /// Nodes, edges, adjacency and independent sets.
    static func bytes(_ g: Graph) -> Int { (g.nodeCount &+ g.edgeCount) &* 40 }

    static func bytes(_ bm: BoltzmannMachine) -> Int { (bm.bias.count &+ bm.weights.count) &* float }

    /// Parameters, PCD and β_eff chains (the chain buffer and the sampler's
    /// chain state), the dense coupling matrix when the kernels use one.
    static func bytes(_ p: LatentPrior) -> Int {
        var total = bytes(p.graph)
        if let b = p as? BoltzmannPrior {
            let n = b.units
            total &+= 2 &* (n &+ b.graph.edgeCount) &* float
            total &+= 2 &* b.negativeSamples &* n &* float
            total &+= b.betaEffChains &* n &* float
            if b.usesDenseKernels { total &+= n &* n &* float }
        }
        return total
    }

    static func bytes(_ m: Module) -> Int { bytes(parameters: m.parameters()) }

    /// The optimizer's state: Adam's two moments, SGD's momentum buffer.
    static func bytes(_ o: Optimizer) -> Int {
        let p = o.params.reduce(0) { $0 &+ bytes($1) }
        return o is Adam ? 2 &* p : p
    }
}
