import Model
import Runtime

// Model errors in Lua's words, mechanically: a `ModelError` names its
// field in Swift's camelCase (`burnIn`); the bridge spells it in Lua's
// snake_case (`burn_in`) and reports it as the argument or option of the
// call that carries that name. Messages are never rewritten.

/// `burnIn` → `burn_in`, `logZError` → `log_z_error`.
func snakeCase(_ s: String) -> String {
    var out = ""
    for c in s {
        if c.isUppercase { if !out.isEmpty { out += "_" }; out += c.lowercased() } else { out.append(c) }
    }
    return out
}

/// A Model error as text without an argument context: "burn_in: must be >= 0".
func luaText(_ e: ModelError) -> String {
    e.field.map { "\(snakeCase($0)): \(e.message)" } ?? e.message
}

extension Arguments {
    /// A Model error as a Lua error of this call. Its field's Lua name is
    /// `renamed[field]` where the Lua API spells it differently (e.g.
    /// `batchSize` → "batch"), else `snakeCase(field)`; when `positions`
    /// gives that name an argument number the error is "bad argument #i"
    /// (or, in a property setter, "bad value for field"), otherwise "bad
    /// option". Without a field: "function: message".
    func modelError(_ e: ModelError, positions: [String: Int] = [:], renamed: [String: String] = [:]) -> Error {
        guard let f = e.field else { return error(e.message) }
        let name = renamed[f] ?? snakeCase(f)
        if let i = positions[name] { return argumentError(i, name, e.message) }
        return optionError(name, e.message)
    }
}

/// Runs one Model/Runtime call for a binding: `TensorError` and
/// `ModelError` become Lua errors naming the Lua function (and, for a
/// Model error's field, the argument or option; see `Arguments.modelError`).
func modelOp<R>(_ args: Arguments, positions: [String: Int] = [:], renamed: [String: String] = [:],
                _ body: () throws -> R) throws -> R {
    do {
        return try tensorOp(args, body)
    } catch let e as ModelError {
        throw args.modelError(e, positions: positions, renamed: renamed)
    }
}

/// `sampler` after `Sampler.validate()`: a bad setting is reported now, as
/// the option of this call that sets it.
func validated<S: Sampler>(_ args: Arguments, _ sampler: S) throws -> S {
    try modelOp(args) { try sampler.validate() }
    return sampler
}
