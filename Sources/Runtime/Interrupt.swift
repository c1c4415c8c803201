import CSupport

/// Cooperative cancellation: Ctrl-C sets a flag (in C, from the signal
/// handler); long Swift loops call `Interrupt.check()` between steps.
public enum Interrupt {
    /// Thrown by `check()` when an interrupt is pending; clears the flag.
    public struct Interrupted: Error, CustomStringConvertible {
        public init() {}
        public var description: String { "interrupted" }
    }

    /// Whether an interrupt is pending (does not clear it).
    public static var isPending: Bool { qv_interrupt_pending() != 0 }

    /// Throws `Interrupted` and clears the flag if Ctrl-C arrived.
    @inline(__always)
    public static func check() throws {
        if qv_interrupt_pending() != 0 {
            _ = qv_take_interrupt()
            throw Interrupted()
        }
    }
}
