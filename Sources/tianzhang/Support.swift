import Foundation
import TianzhangDomain
import TianzhangSQLite
import TianzhangSeed
import TianzhangSync

/// The wall clock, read only here at the edge of the program.
///
/// For tests only: `TIANZHANG_TEST_CLOCK_SKEW_MS` (milliseconds, may be negative) is added to it, so a
/// test can run a process whose device clock is wrong (hours ahead or behind).
func nowMilliseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) + testClockSkew }

let testClockSkew: Int64 = ProcessInfo.processInfo.environment["TIANZHANG_TEST_CLOCK_SKEW_MS"].flatMap { Int64($0) } ?? 0

/// A clock skew as a clerk reads it: "本机时钟快 6 小时 (已按县局时间校正)"; `nil` when within a minute.
/// - Parameter offset: the county's time minus this device's (`ReplicaMeta.clockOffset`).
func skewLineChinese(_ offset: Int64?) -> String? {
    guard let offset, abs(offset) >= 60_000 else { return nil }
    let minutes = (abs(offset) + 30_000) / 60_000
    let amount = minutes >= 60 ? "\(minutes / 60) 小时" + (minutes % 60 == 0 ? "" : " \(minutes % 60) 分钟") : "\(minutes) 分钟"
    return "本机时钟\(offset < 0 ? "快" : "慢") \(amount) (已按县局时间校正)"
}

/// Field operations that create a record from a domain value (see `Draft(creating:…)`).
func creationFields<T: Encodable>(of value: T, type: RecordType) -> [String: FieldOperation] {
    Draft.creationFields(of: value, type: type)
}

/// Records a generated or imported county at the hub through the sync engine, in one transaction, so
/// everything syncs down to the townships.
func recordAtHub(_ store: any SyncStore, engine: SyncEngine, hub: ReplicaID, county: DivisionCode, parcels: [Parcel], cases: [EnforcementCase] = [],
                 chiefs: [FieldChief] = [], divisions: [Division] = [], now: Int64) throws {
    try store.write { tx in
        try engine.open(replica: hub, jurisdiction: .county(county), in: tx)
        for division in divisions where division.code.level != .county {
            try engine.record(Draft(type: .division, id: division.code.rawValue, scope: division.code, author: "dispatcher", fields: creationFields(of: division, type: .division)), physicalNow: now, in: tx)
        }
        for chief in chiefs {
            try engine.record(Draft(type: .fieldChief, id: chief.id, scope: chief.division, author: "dispatcher", fields: creationFields(of: chief, type: .fieldChief)), physicalNow: now, in: tx)
        }
        for parcel in parcels {
            try engine.record(Draft(type: .parcel, id: parcel.id.rawValue, scope: parcel.village, author: "dispatcher", fields: creationFields(of: parcel, type: .parcel)), physicalNow: now, in: tx)
        }
        for record in cases {
            try engine.record(Draft(type: .enforcementCase, id: record.id.rawValue, scope: record.village ?? record.township, author: "dispatcher", fields: creationFields(of: record, type: .enforcementCase)), physicalNow: now, in: tx)
        }
    }
}

struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Terminal styling, off when stdout is not a terminal or NO_COLOR is set.
enum Style {
    static let enabled = isatty(1) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
    static func bold(_ text: String) -> String { enabled ? "\u{1B}[1m\(text)\u{1B}[0m" : text }
    static func green(_ text: String) -> String { enabled ? "\u{1B}[32m\(text)\u{1B}[0m" : text }
    static func yellow(_ text: String) -> String { enabled ? "\u{1B}[33m\(text)\u{1B}[0m" : text }
    static func red(_ text: String) -> String { enabled ? "\u{1B}[31m\(text)\u{1B}[0m" : text }
}
