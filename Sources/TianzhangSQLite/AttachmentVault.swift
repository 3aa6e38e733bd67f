import Foundation
#if canImport(Glibc)
import Glibc
#endif
import TianzhangDomain
import TianzhangSync

/// A failure of the attachment vault, with a stable code (Protocol/errors.md).
public struct VaultError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable {
        /// The digest or size is malformed or out of range.
        case invalidValue = "invalid_value"
        /// A chunk does not start at the byte the receiver holds up to; `received` says where to resume.
        case offsetMismatch = "offset_mismatch"
        /// The bytes, once whole, do not hash to the digest they were sent under: they were discarded.
        case digestMismatch = "digest_mismatch"
        /// A chunk would run past the declared size.
        case sizeMismatch = "size_mismatch"
        /// The file could not be read or written.
        case io = "io_error"
    }

    public var code: Code
    public var message: String
    /// For `offset_mismatch`: the bytes the receiver holds.
    public var received: Int64?

    public init(_ code: Code, _ message: String, received: Int64? = nil) {
        self.code = code
        self.message = message
        self.received = received
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// Attachment bytes on disk, addressed by their SHA-256: `<folder>/<sha256>` once whole and verified,
/// `<folder>/partial/<sha256>` while they arrive in chunks. Every write is flushed to disk (fsync)
/// before it is acknowledged, so a confirmed byte survives a crash, and an upload cut at any byte resumes
/// from the last confirmed one. Whole files are verified against their digest before they are kept.
public struct AttachmentVault: Sendable {
    public let folder: URL

    public init(folder: URL) throws(VaultError) {
        self.folder = folder
        do {
            try FileManager.default.createDirectory(at: folder.appendingPathComponent("partial"), withIntermediateDirectories: true)
        } catch {
            throw VaultError(.io, "Cannot create the attachment folder \(folder.path): \(error.localizedDescription)")
        }
    }

    /// The vault beside a store file: `<store>.attachments/`.
    public init(besideStore path: String) throws(VaultError) {
        try self.init(folder: URL(fileURLWithPath: path + ".attachments"))
    }

    /// The file of a whole, verified attachment.
    public func url(of sha256: String) -> URL { folder.appendingPathComponent(sha256) }
    func partialURL(of sha256: String) -> URL { folder.appendingPathComponent("partial").appendingPathComponent(sha256) }

    /// Whether the whole, verified bytes are here.
    public func has(_ sha256: String) -> Bool { FileManager.default.fileExists(atPath: url(of: sha256).path) }

    /// How many bytes of the attachment are here and confirmed: its size when whole, the length of the
    /// partial file while it arrives, 0 when none.
    public func received(_ sha256: String) throws(VaultError) -> Int64 {
        try AttachmentMetadata.validate(sha256)
        if let size = Self.size(of: url(of: sha256)) { return size }
        return Self.size(of: partialURL(of: sha256)) ?? 0
    }

    /// Takes in a local file (a photo just taken): copies it into the vault, hashing as it goes, flushes
    /// it to disk and only then makes it visible under its digest. The same bytes twice are kept once.
    /// - Returns: the digest and the size.
    /// - Throws: `VaultError` (`io_error`, `invalid_value` for an empty file or one over 64 MiB).
    public func put(contentsOf source: URL) throws(VaultError) -> (sha256: String, size: Int64) {
        guard let input = FileHandle(forReadingAtPath: source.path) else { throw VaultError(.io, "Cannot read \(source.path).") }
        defer { try? input.close() }
        let temporary = folder.appendingPathComponent("partial").appendingPathComponent("import-\(UUID().uuidString)")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil), let output = FileHandle(forWritingAtPath: temporary.path) else {
            throw VaultError(.io, "Cannot write into \(folder.path).")
        }
        var digest = ContentDigest()
        var size: Int64 = 0
        do {
            while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
                digest.update(chunk)
                size += Int64(chunk.count)
                guard size <= AttachmentMetadata.sizeBytesMax else {
                    throw VaultError(.invalidValue, "\(source.lastPathComponent) is larger than \(AttachmentMetadata.sizeBytesMax) bytes.")
                }
                try output.write(contentsOf: chunk)
            }
            try output.synchronize()
            try output.close()
        } catch let error as VaultError {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw VaultError(.io, "Copying \(source.path) failed: \(error.localizedDescription)")
        }
        guard size > 0 else {
            try? FileManager.default.removeItem(at: temporary)
            throw VaultError(.invalidValue, "\(source.lastPathComponent) is empty.")
        }
        let sha256 = digest.finalize()
        try keep(temporary, as: sha256)
        return (sha256, size)
    }

    /// Appends a chunk of an attachment that arrives over the network.
    /// - Parameters:
    ///   - offset: where the chunk starts; MUST equal the bytes already received.
    ///   - size: the whole attachment's declared size.
    /// - Returns: the bytes now received, and whether the attachment is whole and verified.
    /// - Throws: `VaultError`: `offset_mismatch` (with `received`), `size_mismatch`, `digest_mismatch`
    ///   (the partial bytes are discarded), `invalid_value`, `io_error`.
    public func append(_ sha256: String, offset: Int64, size: Int64, bytes: some DataProtocol) throws(VaultError) -> (received: Int64, complete: Bool) {
        try AttachmentMetadata.validate(sha256)
        guard size > 0, size <= AttachmentMetadata.sizeBytesMax else {
            throw VaultError(.invalidValue, "An attachment's size must be 1 byte to 64 MiB, not \(size).")
        }
        if has(sha256) { return (size, true) }
        let partial = partialURL(of: sha256)
        let held = Self.size(of: partial) ?? 0
        guard offset == held else {
            throw VaultError(.offsetMismatch, "This chunk starts at byte \(offset), but \(held) bytes are held: resume from \(held).", received: held)
        }
        guard offset + Int64(bytes.count) <= size else {
            throw VaultError(.sizeMismatch, "The chunk ends at byte \(offset + Int64(bytes.count)), past the declared size \(size).")
        }
        do {
            if held == 0 { FileManager.default.createFile(atPath: partial.path, contents: nil) }
            let output = try FileHandle(forWritingTo: partial)
            try output.seekToEnd()
            try output.write(contentsOf: Data(bytes))
            try output.synchronize()
            try output.close()
        } catch {
            throw VaultError(.io, "Writing \(sha256) failed: \(error.localizedDescription)")
        }
        let received = offset + Int64(bytes.count)
        guard received == size else { return (received, false) }
        let actual = try Self.digest(of: partial)
        guard actual == sha256 else {
            try? FileManager.default.removeItem(at: partial)
            throw VaultError(.digestMismatch, "The \(size) bytes received hash to \(actual), not \(sha256); they were discarded: send them again.")
        }
        try keep(partial, as: sha256)
        return (size, true)
    }

    /// The bytes of a whole attachment from `offset`, at most `limit` of them.
    public func read(_ sha256: String, from offset: Int64, limit: Int) throws(VaultError) -> Data {
        guard let input = FileHandle(forReadingAtPath: url(of: sha256).path) else { throw VaultError(.io, "Attachment \(sha256) is not in the vault.") }
        defer { try? input.close() }
        do {
            try input.seek(toOffset: UInt64(offset))
            return try input.read(upToCount: limit) ?? Data()
        } catch {
            throw VaultError(.io, "Reading \(sha256) failed: \(error.localizedDescription)")
        }
    }

    /// Moves a flushed file to its final name (atomic), and flushes the folder so the name survives a crash.
    func keep(_ file: URL, as sha256: String) throws(VaultError) {
        let final = url(of: sha256)
        if FileManager.default.fileExists(atPath: final.path) {
            try? FileManager.default.removeItem(at: file)
            return
        }
        guard rename(file.path, final.path) == 0 else { throw VaultError(.io, "Cannot keep \(sha256): \(String(cString: strerror(errno))).") }
        let directory = open(folder.path, O_RDONLY)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
    }

    static func size(of file: URL) -> Int64? {
        (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber)?.int64Value
    }

    static func digest(of file: URL) throws(VaultError) -> String {
        guard let input = FileHandle(forReadingAtPath: file.path) else { throw VaultError(.io, "Cannot read \(file.path).") }
        defer { try? input.close() }
        var digest = ContentDigest()
        do {
            while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty { digest.update(chunk) }
        } catch {
            throw VaultError(.io, "Reading \(file.path) failed: \(error.localizedDescription)")
        }
        return digest.finalize()
    }
}

extension AttachmentMetadata {
    static func validate(_ sha256: String) throws(VaultError) {
        do { try validateDigest(sha256, field: "sha256") } catch { throw VaultError(.invalidValue, error.message) }
    }
}
