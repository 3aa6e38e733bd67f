import Crypto
import Foundation

/// SHA-256 of content (attachment bytes), fed in pieces: the id of an attachment is its digest, so a
/// photo is addressed by what it is, deduplicated everywhere and verified on arrival.
public struct ContentDigest: Sendable {
    var hasher = SHA256()

    public init() {}

    public mutating func update(_ bytes: some DataProtocol) { hasher.update(data: bytes) }

    /// Lower-case hex, 64 characters.
    public func finalize() -> String { Hex.encode(hasher.finalize()) }

    /// The digest of `bytes` at once.
    public static func sha256(_ bytes: some DataProtocol) -> String {
        var digest = ContentDigest()
        digest.update(bytes)
        return digest.finalize()
    }
}
