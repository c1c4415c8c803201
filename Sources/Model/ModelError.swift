import Runtime

/// Errors thrown by graphs, Boltzmann machines, samplers and models on bad
/// input. Every user-reachable failure is one of these (never a trap).
///
/// `field` names the offending argument or property in Swift's camelCase
/// (`burnIn`, `negativePhase`) when one is at fault; front ends map it
/// mechanically to their own spelling (the Lua bridge: snake_case, as a
/// "bad option"/"bad argument" error) and show `message` as the detail.
public struct ModelError: Error, CustomStringConvertible, Equatable {
    /// What is wrong, without the field's name.
    public let message: String
    /// The offending argument or property (Swift spelling), if any.
    public let field: String?

    public init(_ message: String) { self.message = message; self.field = nil }
    /// An error about `field`: `ModelError(field: "burnIn", "must be >= 0")`.
    public init(field: String, _ message: String) { self.message = message; self.field = field }

    /// "burnIn: must be >= 0", or the message alone.
    public var description: String { field.map { "\($0): \(message)" } ?? message }
}

@inline(__always)
func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw ModelError(message()) }
}

/// A number as a message shows it: integral values without ".0" (0, 2, -0.1).
func numberText(_ v: Double) -> String {
    v == v.rounded() && Swift.abs(v) < 1e15 ? String(Int(v)) : "\(v)"
}

/// The same for a Float (its shortest decimal form: -0.1, not -0.10000000149).
func numberText(_ v: Float) -> String {
    v == v.rounded() && Swift.abs(v) < 1e15 ? String(Int(v)) : "\(v)"
}

/// Throws `ModelError(field:_:)` unless `condition` holds.
@inline(__always)
func require(_ condition: Bool, field: String, _ message: @autoclosure () -> String) throws {
    if !condition { throw ModelError(field: field, message()) }
}
