/// Milliseconds since 1970-01-01T00:00:00Z. The domain's only notion of time; it never reads a clock.
public struct Timestamp: Hashable, Sendable, Comparable, Codable, CustomStringConvertible {
    public var milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.milliseconds < rhs.milliseconds }

    public func adding(minutes: Int64) -> Timestamp { Timestamp(milliseconds: milliseconds + minutes * 60_000) }
    public func adding(hours: Int64) -> Timestamp { adding(minutes: hours * 60) }

    public init(from decoder: any Decoder) throws {
        milliseconds = try decoder.singleValueContainer().decode(Int64.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(milliseconds)
    }

    /// ISO 8601 in UTC with milliseconds, e.g. `2026-11-23T08:15:00.000Z`.
    public var description: String {
        let (days, msOfDay) = milliseconds.quotientAndRemainder(dividingBy: 86_400_000)
        let dayNumber = msOfDay < 0 ? days - 1 : days
        let ms = msOfDay < 0 ? msOfDay + 86_400_000 : msOfDay
        let (y, m, d) = Timestamp.civil(fromDays: dayNumber)
        let hours = ms / 3_600_000, minutes = ms / 60_000 % 60, seconds = ms / 1000 % 60, millis = ms % 1000
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(hours, 2)):\(pad(minutes, 2)):\(pad(seconds, 2)).\(pad(millis, 3))Z"
    }

    /// Days since the epoch to a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// A proleptic Gregorian date to days since the epoch.
    public static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The UTC day (days since the epoch) this instant falls on, shifted by `offsetHours` (China: +8).
    public func day(offsetHours: Int64 = 8) -> Int64 {
        let shifted = milliseconds + offsetHours * 3_600_000
        return shifted >= 0 ? shifted / 86_400_000 : (shifted - 86_399_999) / 86_400_000
    }
}

/// A globally unique, time-sortable identifier generated offline (a ULID: 48 bits of milliseconds and
/// 80 random bits, 26 characters of Crockford base32).
///
/// Two devices that never talk still never collide (2^80 random space per millisecond), and identifiers
/// sort by creation time, so a ledger listed by id is listed by time.
public struct RecordID: Hashable, Sendable, Comparable, Codable, CustomStringConvertible {
    public let rawValue: String

    static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    /// Validates a textual identifier: 1–64 characters of `A–Z a–z 0–9 - _ . :`.
    /// - Throws: `ValidationError` (`invalid_identifier`).
    public init(_ rawValue: String, field: String? = "id") throws(ValidationError) {
        guard !rawValue.isEmpty, rawValue.utf8.count <= 64 else {
            throw ValidationError(.invalidIdentifier, "An identifier must have 1 to 64 characters, not \(rawValue.utf8.count).", field: field)
        }
        guard rawValue.utf8.allSatisfy(RecordID.isAllowed) else {
            throw ValidationError(
                .invalidIdentifier, "Identifier \"\(rawValue)\" may use only letters, digits and - _ . : characters.",
                field: field)
        }
        self.rawValue = rawValue
    }

    static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x5F, 0x2E, 0x3A: true
        default: false
        }
    }

    /// Generates a new ULID for `time` from `rng`.
    public static func generate(at time: Timestamp, using rng: inout some RandomNumberGenerator) -> RecordID {
        var bytes = [UInt8](repeating: 0, count: 16)
        let ms = UInt64(max(0, time.milliseconds))
        for i in 0..<6 { bytes[i] = UInt8(truncatingIfNeeded: ms >> (40 - 8 * UInt64(i))) }
        for i in 6..<16 { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
        // 128 bits → 26 base32 characters (the first carries 3 bits).
        var value = bytes.reduce(into: (hi: UInt64(0), lo: UInt64(0))) { acc, byte in
            acc.hi = acc.hi << 8 | acc.lo >> 56
            acc.lo = acc.lo << 8 | UInt64(byte)
        }
        var chars = [UInt8](repeating: 0, count: 26)
        for i in stride(from: 25, through: 0, by: -1) {
            chars[i] = alphabet[Int(value.lo & 31)]
            value.lo = value.lo >> 5 | value.hi << 59
            value.hi >>= 5
        }
        return try! RecordID(String(decoding: chars, as: UTF8.self))
    }

    /// The creation time encoded in a ULID; `nil` for identifiers of another form (e.g. parcel numbers).
    public var ulidTimestamp: Timestamp? {
        let utf8 = Array(rawValue.utf8)
        guard utf8.count == 26 else { return nil }
        var ms: UInt64 = 0
        for c in utf8.prefix(10) {
            guard let digit = RecordID.alphabet.firstIndex(of: c) else { return nil }
            ms = ms << 5 | UInt64(digit)
        }
        return Timestamp(milliseconds: Int64(ms & 0xFFFF_FFFF_FFFF))
    }

    public var description: String { rawValue }
    public static func < (lhs: RecordID, rhs: RecordID) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let raw = try container.decode(String.self)
        do { self = try RecordID(raw) } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.message)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// Who acts: the county bureau (hub), a township office (node), or a field chief's device (patrol).
public enum ActorRole: String, Codable, Sendable, CaseIterable {
    case county, township, patrol
}
