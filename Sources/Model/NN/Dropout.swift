import Runtime

/// Dropout: in training, zeroes each element with probability `p` and
/// scales the rest by 1/(1 − p); in evaluation, the identity.
///
/// Where masks come from, in this order: the layer's own `generator` when
/// it has one; else the generator of the innermost enclosing
/// `Dropout.drawing(from:)` scope (`DiscreteVAE.objective` opens one with
/// its generator around the decoder, so a training step's draws all come
/// from the stream it was given); else the global generator (`qv.seed`).
public final class Dropout: Layer {
    public let p: Float
    public var generator: Generator?
    public var training = true

    public init(_ p: Float = 0.5, generator: Generator? = nil) throws {
        guard p >= 0, p < 1 else { throw ModelError("Dropout: rate must be in [0, 1), got \(p)") }
        self.p = p; self.generator = generator
    }

    public var localParameters: [(String, Tensor)] { [] }

    /// The generator of the innermost `drawing(from:)` scope (single-threaded use, like `GlobalRandom`).
    nonisolated(unsafe) private static var scoped: UnsafeMutablePointer<Generator>? = nil

    /// Runs `body` with dropout layers that have no generator of their own
    /// drawing their masks from `generator` (in the order the layers run).
    public static func drawing<T>(from generator: inout Generator, _ body: () throws -> T) rethrows -> T {
        try withUnsafeMutablePointer(to: &generator) { g in
            let saved = scoped
            scoped = g
            defer { scoped = saved }
            return try body()
        }
    }

    public func forward(_ x: Tensor) throws -> Tensor {
        guard let mask = try drawMask(count: x.count) else { return x }
        return try x.dropout(mask)
    }

    /// The mask for `count` elements from this layer's stream (see above),
    /// or nil when the layer is the identity (evaluation, or p = 0).
    public func drawMask(count: Int) throws -> DropoutMask? {
        guard training, p > 0 else { return nil }
        if generator != nil { return try DropoutMask.draw(count: count, p: p, generator: &generator!) }
        if let g = Dropout.scoped { return try DropoutMask.draw(count: count, p: p, generator: &g.pointee) }
        return try DropoutMask.draw(count: count, p: p, generator: &GlobalRandom.generator)
    }
}
