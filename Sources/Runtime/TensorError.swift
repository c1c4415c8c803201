/// The error thrown by every tensor operation that can fail on user input
/// (shapes, dimensions, indices, files). The message is meant for the user.
public struct TensorError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Formats a shape the way error messages print it: `[3,4]`.
@inline(__always)
func fmt(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ",") + "]" }
