import Runtime

/// An indexed list of modules (children "0", "1", ...), as PyTorch's
/// `nn.ModuleList`: a container with no forward of its own.
public final class ModuleList<M: Module>: Module {
    public private(set) var items: [M]
    public var training = true
    public init(_ items: [M]) { self.items = items }
    public var localParameters: [(String, Tensor)] { [] }
    public var children: [(String, Module)] { items.enumerated().map { (String($0.offset), $0.element as Module) } }
    public subscript(i: Int) -> M { items[i] }
    public var count: Int { items.count }
}
