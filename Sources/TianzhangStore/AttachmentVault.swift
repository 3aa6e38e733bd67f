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
        /// The uploader's partial uploads would exceed its quota (`partialBytesMax`); finish or let expire some first.
        case quotaExceeded = "quota_exceeded"
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
/// `<folder>/partial/<uploader>/<sha256>` while they arrive in chunks, one partial file per uploader (the
/// authenticated replica), so two uploaders of the same bytes never write into one file and one uploader's
/// junk never blocks another's real bytes. Every write is flushed to disk (fsync) before it is acknowledged,
/// so a confirmed byte survives a crash, and an upload cut at any byte resumes from the last confirmed one.
/// Whole files are verified against their digest before they are moved (atomically) to their final name.
/// Partial bytes are bounded per uploader (`partialBytesMax`) and expire (`partialLifetime`).
public struct AttachmentVault: Sendable {
    public let folder: URL
    /// The partial bytes one uploader may hold at once, over all its unfinished uploads (SPEC §8).
    public var partialBytesMax: Int64 = 256 * 1024 * 1024
    /// How long an unfinished upload is kept after its last chunk (SPEC §8).
    public var partialLifetime: TimeInterval = 24 * 60 * 60

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
    /// The folder of one uploader's partial uploads (named by a digest of its replica id: any id is a safe name).
    func uploaderFolder(_ uploader: String) -> URL {
        var digest = ContentDigest()
        digest.update(Data(uploader.utf8))
        return folder.appendingPathComponent("partial").appendingPathComponent(String(digest.finalize().prefix(32)))
    }
    func partialURL(of sha256: String, uploader: String) -> URL { uploaderFolder(uploader).appendingPathComponent(sha256) }
    /// An empty mark that this uploader sent these bytes whole and verified: it may learn they are here.
    func doneURL(of sha256: String, uploader: String) -> URL { uploaderFolder(uploader).appendingPathComponent(sha256 + ".done") }

    /// Whether the whole, verified bytes are here.
    public func has(_ sha256: String) -> Bool { FileManager.default.fileExists(atPath: url(of: sha256).path) }

    /// How many bytes of the attachment are here and confirmed: its size when whole, 0 when none (local use).
    public func received(_ sha256: String) throws(VaultError) -> Int64 {
        try AttachmentMetadata.validate(sha256)
        return Self.size(of: url(of: sha256)) ?? 0
    }

    /// What an uploader may learn of an attachment (SPEC §10): whole when the bytes are here and it may know
    /// (`mayKnow`: a record it may see refers to them) or it sent them whole itself; else only its own
    /// partial upload. So a probe tells nobody whether bytes exist that it could not already see.
    public func status(_ sha256: String, uploader: String, mayKnow: Bool) throws(VaultError) -> (received: Int64, complete: Bool) {
        try AttachmentMetadata.validate(sha256)
        if let size = Self.size(of: url(of: sha256)), mayKnow || FileManager.default.fileExists(atPath: doneURL(of: sha256, uploader: uploader).path) {
            return (size, true)
        }
        let partial = partialURL(of: sha256, uploader: uploader)
        if let size = Self.size(of: partial), !expired(partial, now: Date()) { return (size, false) }
        return (0, false)
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

    /// Appends a chunk of an attachment that arrives over the network, into the uploader's own partial file.
    /// - Parameters:
    ///   - uploader: the authenticated replica sending it.
    ///   - offset: where the chunk starts; MUST equal the bytes this uploader already sent.
    ///   - size: the whole attachment's declared size.
    ///   - mayKnow: whether the uploader may learn that whole bytes are here already (see `status`).
    /// - Returns: the bytes now received, and whether the attachment is whole and verified.
    /// - Throws: `VaultError`: `offset_mismatch` (with `received`), `size_mismatch`, `digest_mismatch`
    ///   (the uploader's partial bytes are discarded), `quota_exceeded`, `invalid_value`, `io_error`.
    public func append(_ sha256: String, uploader: String, offset: Int64, size: Int64, bytes: some DataProtocol,
                       mayKnow: Bool = false, now: Date = Date()) throws(VaultError) -> (received: Int64, complete: Bool) {
        try AttachmentMetadata.validate(sha256)
        guard size > 0, size <= AttachmentMetadata.sizeBytesMax else {
            throw VaultError(.invalidValue, "An attachment's size must be 1 byte to 64 MiB, not \(size).")
        }
        if try self.status(sha256, uploader: uploader, mayKnow: mayKnow).complete { return (size, true) }
        if offset == 0 { sweep(now: now) }
        let partial = partialURL(of: sha256, uploader: uploader)
        var held = Self.size(of: partial) ?? 0
        if held > 0, expired(partial, now: now) {
            try? FileManager.default.removeItem(at: partial)
            held = 0
        }
        guard offset == held else {
            throw VaultError(.offsetMismatch, "This chunk starts at byte \(offset), but \(held) bytes are held: resume from \(held).", received: held)
        }
        guard offset + Int64(bytes.count) <= size else {
            throw VaultError(.sizeMismatch, "The chunk ends at byte \(offset + Int64(bytes.count)), past the declared size \(size).")
        }
        let total = partialBytes(of: uploader, now: now)
        guard total + Int64(bytes.count) <= partialBytesMax else {
            throw VaultError(.quotaExceeded, "This credential holds \(total) bytes of unfinished uploads; at most \(partialBytesMax) at once. Finish them, or wait for them to expire (\(Int(partialLifetime / 3600)) h after their last chunk).")
        }
        do {
            if held == 0 {
                try FileManager.default.createDirectory(at: uploaderFolder(uploader), withIntermediateDirectories: true)
                FileManager.default.createFile(atPath: partial.path, contents: nil)
            }
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
        FileManager.default.createFile(atPath: doneURL(of: sha256, uploader: uploader).path, contents: nil)
        return (size, true)
    }

    /// The partial bytes one uploader holds now (expired ones not counted).
    public func partialBytes(of uploader: String, now: Date = Date()) -> Int64 {
        let files = (try? FileManager.default.contentsOfDirectory(at: uploaderFolder(uploader), includingPropertiesForKeys: [.fileSizeKey, .contentModificationDateKey])) ?? []
        return files.filter { !$0.lastPathComponent.hasSuffix(".done") && !expired($0, now: now) }.reduce(0) { $0 + (Self.size(of: $1) ?? 0) }
    }

    /// Removes every partial upload whose last chunk is older than `partialLifetime` (run lazily, when an
    /// upload starts, and when a server opens its vault).
    public func sweep(now: Date = Date()) {
        let manager = FileManager.default
        let partials = folder.appendingPathComponent("partial")
        for entry in (try? manager.contentsOfDirectory(at: partials, includingPropertiesForKeys: nil)) ?? [] {
            var isFolder: ObjCBool = false
            guard manager.fileExists(atPath: entry.path, isDirectory: &isFolder) else { continue }
            if !isFolder.boolValue {
                if expired(entry, now: now) { try? manager.removeItem(at: entry) }
                continue
            }
            for file in (try? manager.contentsOfDirectory(at: entry, includingPropertiesForKeys: nil)) ?? []
            where !file.lastPathComponent.hasSuffix(".done") && expired(file, now: now) {
                try? manager.removeItem(at: file)
            }
        }
    }

    func expired(_ file: URL, now: Date) -> Bool {
        guard let modified = (try? FileManager.default.attributesOfItem(atPath: file.path))?[.modificationDate] as? Date else { return false }
        return now.timeIntervalSince(modified) > partialLifetime
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
        // rename(2) replaces atomically: two uploaders that finish the same (verified, hence equal) bytes at
        // once both succeed, and a reader sees either no file or a whole one.
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

extension AttachmentVault: AttachmentSource {
    public func size(of sha256: String) throws -> Int64 { try received(sha256) }
    public func chunk(of sha256: String, from offset: Int64, limit: Int) throws -> Data { try read(sha256, from: offset, limit: limit) }
}
