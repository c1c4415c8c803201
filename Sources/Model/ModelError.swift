import Runtime

/// Errors thrown by graphs, Boltzmann machines and samplers on bad input.
/// Every user-reachable failure is one of these (never a trap).
public struct ModelError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

@inline(__always)
func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw ModelError(message()) }
}
