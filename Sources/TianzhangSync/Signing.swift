import Crypto
import Foundation
import TianzhangDomain

/// Ed25519 signatures on changes (Protocol/SPEC.md §2.7): every change carries its origin's signature
/// over its canonical form, so a relay can forward a change but never forge or alter one.
///
/// A node's or device's key is derived from the credential the county issued (HKDF-SHA256), so the
/// county learns the public key at enrolment, when it hands out the secret, without another round of
/// registration; the secret never leaves the enrolment command and the replica. The hub's own key is
/// random, made when its store is created; its public key travels in every credential the hub issues.
public enum ChangeSigning {
    /// The 32-byte Ed25519 seed of a credential's holder, hex.
    public static func seed(fromCredential credential: String) -> String {
        let key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: Data(credential.utf8)), salt: Data("tianzhang change signing".utf8),
            info: Data("ed25519 seed v1".utf8), outputByteCount: 32)
        return key.withUnsafeBytes { Hex.encode(Data($0)) }
    }

    /// A new random seed (the hub's), hex.
    public static func randomSeed() -> String { Hex.encode(Curve25519.Signing.PrivateKey().rawRepresentation) }

    /// The public key of a seed, hex (32 bytes).
    public static func publicKey(seed: String) -> String? {
        guard let raw = Hex.decode(seed), let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw) else { return nil }
        return Hex.encode(key.publicKey.rawRepresentation)
    }

    /// The public key the holder of `credential` signs with, hex.
    public static func publicKey(fromCredential credential: String) -> String { publicKey(seed: seed(fromCredential: credential))! }

    /// The bytes a signature covers: the change's canonical JSON without `sig` (sorted keys, no
    /// whitespace, `base` sorted, unknown members included).
    public static func signedBytes(_ change: Change) -> Data {
        var unsigned = change
        unsigned.signature = nil
        return Canonical.data(unsigned)
    }

    /// Signs a change in place with a hex seed.
    public static func sign(_ change: inout Change, seed: String) {
        guard let raw = Hex.decode(seed), let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw),
            let signature = try? key.signature(for: signedBytes(change))
        else { preconditionFailure("a replica's signing seed is 32 bytes of hex") }
        change.signature = Data(signature).base64EncodedString()
    }

    /// Whether the change's signature verifies under one of the public keys (hex).
    ///
    /// A receiver meets the same signed change more than once (a relay, then its pull; a retried batch);
    /// verified (signature, key) pairs are remembered with the SHA-256 of the bytes they cover, so a
    /// repeat costs a hash instead of a verification, and different bytes never pass on a cached entry.
    public static func verify(_ change: Change, publicKeys: [String]) -> Bool {
        guard let text = change.signature, let signature = Data(base64Encoded: text), signature.count == 64 else { return false }
        let bytes = signedBytes(change)
        let digest = Data(SHA256.hash(data: bytes))
        for hex in publicKeys {
            if verified.hit(signature: text, key: hex, digest: digest) { return true }
            guard let raw = Hex.decode(hex), let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else { continue }
            if key.isValidSignature(signature, for: bytes) {
                verified.remember(signature: text, key: hex, digest: digest)
                return true
            }
        }
        return false
    }

    static let verified = VerifiedSignatures()

    /// Whether two changes with the same id carry the same content (their signatures aside).
    public static func sameContent(_ a: Change, _ b: Change) -> Bool {
        var (left, right) = (a, b)
        (left.signature, right.signature) = (nil, nil)
        (left.base, right.base) = (left.base.sorted(), right.base.sorted())
        return left == right
    }
}

/// Signatures this process has verified, bounded (cleared when full).
final class VerifiedSignatures: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String: Data] = [:]
    private let capacity = 200_000

    func hit(signature: String, key: String, digest: Data) -> Bool {
        lock.withLock { entries[signature + key] == digest }
    }

    func remember(signature: String, key: String, digest: Data) {
        lock.withLock {
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[signature + key] = digest
        }
    }
}

/// What a receiver knows of an origin's signing keys.
public enum OriginKeys: Hashable, Sendable {
    /// The receiver does not check signatures for this origin (stores and simulations that model trust
    /// elsewhere; never a server facing the network).
    case notChecked
    /// The county never enrolled this origin.
    case unknown
    /// Enrolled before change signatures existed (no key on record): unsigned changes are accepted from
    /// the origin itself, or relayed by a replica whose jurisdiction contains the origin's (SPEC §2.7).
    case unsigned(jurisdiction: Jurisdiction?)
    /// Every public key (hex) ever enrolled for the origin, the revoked ones included: a change made
    /// before a re-enrolment stays valid.
    case keys([String])
}

/// Lowercase hex.
public enum Hex {
    public static func encode(_ data: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in data {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ text: String) -> Data? {
        let bytes = Array(text.utf8)
        guard bytes.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x61...0x66: c - 0x61 + 10
            case 0x41...0x46: c - 0x41 + 10
            default: nil
            }
        }
        var out = Data(capacity: bytes.count / 2)
        var index = 0
        while index < bytes.count {
            guard let high = nibble(bytes[index]), let low = nibble(bytes[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }
}

extension Credential {
    /// A credential as the hub issues it from this version on: the secret, then `.` and the hub's public
    /// key (hex), so the holder can check the county's own changes whoever relays them.
    public static func issue(secret: String, hubPublicKey: String?) -> String {
        hubPublicKey.map { "\(secret).\($0)" } ?? secret
    }

    /// The hub's public key carried in a credential, if it carries one.
    public static func hubPublicKey(in credential: String) -> String? {
        guard let dot = credential.lastIndex(of: ".") else { return nil }
        let key = String(credential[credential.index(after: dot)...])
        return key.utf8.count == 64 && Hex.decode(key) != nil ? key : nil
    }
}

extension Jurisdiction {
    /// Whether every division of `other` lies inside this jurisdiction.
    public func includes(_ other: Jurisdiction) -> Bool {
        switch other {
        case .county(let county):
            if case .county(let mine) = self { return mine == county }
            return false
        case .township(let township), .adjustedTownship(let township, _, _):
            return covers(township)
        case .villages(let villages):
            return villages.allSatisfy(covers)
        }
    }
}
