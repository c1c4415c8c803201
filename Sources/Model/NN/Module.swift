import Runtime

/// A piece of a network that owns named parameters, in the manner of
/// Torch's `nn.Module`: layers, whole encoders and decoders, the VAE and its
/// Boltzmann-machine prior all conform, so optimizers, checkpoints and
/// train/eval switching treat them alike.
///
/// A conforming type lists what it owns directly (`localParameters`,
/// `localBuffers`) and its sub-modules (`children`); the extension walks the
/// tree and prefixes names with the path ("encoder.0.weight").
public protocol Module: AnyObject {
    /// Trainable tensors held directly by this module (not its children's).
    var localParameters: [(String, Tensor)] { get }
    /// Non-trainable state saved in checkpoints (e.g. batch-norm running
    /// statistics), held directly by this module.
    var localBuffers: [(String, Tensor)] { get }
    /// Sub-modules with their names.
    var children: [(String, Module)] { get }
    /// Training mode (dropout active, batch statistics) or evaluation mode.
    var training: Bool { get set }
}

extension Module {
    public var localBuffers: [(String, Tensor)] { [] }
    public var children: [(String, Module)] { [] }

    /// Every parameter in the tree, named by its path, in a stable order.
    public func namedParameters(prefix: String = "") -> [(String, Tensor)] {
        var out = localParameters.map { (prefix + $0.0, $0.1) }
        for (name, child) in children { out += child.namedParameters(prefix: prefix + name + ".") }
        return out
    }

    /// Every parameter in the tree, in `namedParameters` order.
    public func parameters() -> [Tensor] { namedParameters().map { $0.1 } }

    /// Every buffer in the tree, named by its path.
    public func namedBuffers(prefix: String = "") -> [(String, Tensor)] {
        var out = localBuffers.map { (prefix + $0.0, $0.1) }
        for (name, child) in children { out += child.namedBuffers(prefix: prefix + name + ".") }
        return out
    }

    /// Switches this module and all its children to training or evaluation mode.
    public func setTraining(_ on: Bool) {
        training = on
        for (_, child) in children { child.setTraining(on) }
    }

    /// Parameters and buffers by name: what a checkpoint stores.
    public func stateDict() -> [(String, Tensor)] { namedParameters() + namedBuffers() }

    /// Copies values from `state` into this module's parameters and buffers
    /// (in place, so optimizers keep their references). With `strict`, a
    /// missing or unexpected name is an error; shapes must always match.
    public func loadStateDict(_ state: [String: Tensor], strict: Bool = true) throws {
        let mine = stateDict()
        let names = Set(mine.map { $0.0 })
        if strict {
            if let extra = state.keys.sorted().first(where: { !names.contains($0) }) {
                throw TensorError("load_state: unexpected tensor '\(extra)' for this model")
            }
        }
        for (name, t) in mine {
            guard let src = state[name] else {
                if strict { throw TensorError("load_state: missing tensor '\(name)'") }
                continue
            }
            guard src.shape == t.shape else {
                throw TensorError("load_state: '\(name)' has shape \(src.shape), the model expects \(t.shape)")
            }
            try Tensor.noGrad { _ = try t.copy_(src) }
        }
    }
}
