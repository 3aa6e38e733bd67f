import Foundation
import GRDB
import TianzhangDomain
import TianzhangSync

/// One alert of an import: the parsed alert, or why its feature could not be read.
public struct AlertImportItem: Sendable {
    public var index: Int
    public var externalID: String?
    public var alert: Result<Alert, ValidationError>

    public init(index: Int, externalID: String?, alert: Result<Alert, ValidationError>) {
        self.index = index
        self.externalID = externalID
        self.alert = alert
    }
}

/// What an alert import did, feature by feature.
public struct AlertImportReport: Codable, Sendable {
    /// A feature that made no case, and why.
    public struct Refused: Codable, Hashable, Sendable {
        public var index: Int
        public var externalID: String?
        public var code: String
        public var message: String
        public var field: String?
    }

    /// A feature that has its case (made now, or by an earlier import: then `villages` is the case's
    /// main village only, as the geometry is not placed again).
    public struct Placed: Codable, Hashable, Sendable {
        public var index: Int
        public var externalID: String
        public var caseID: String
        public var township: DivisionCode
        public var villages: [DivisionCode]
        public var created: Bool
    }

    public var features = 0
    /// Cases made by this import (each with four tasks).
    public var created = 0
    /// Features whose alert had been dispatched before: nothing new was written for them.
    public var alreadyPresent = 0
    /// Cases per township (made now or before), by township code.
    public var placedByTownship: [String: Int] = [:]
    public var placed: [Placed] = []
    public var refused: [Refused] = []

    public init() {}
}

/// A device that may post alerts (`POST /v1/alerts`) and nothing else: a tower camera, a drone station.
public struct IntakeDevice: Codable, Hashable, Sendable {
    public var device: String
    public var issuedAt: Int64
    public var revoked: Bool
}

extension SQLiteReplicaStore {
    /// The villages alerts can be placed in: each village division whose record carries a boundary,
    /// with its field chief (the first by id when a village has several), in code order. Villages
    /// without a boundary (stores seeded before boundaries existed) are left out.
    /// - Throws: `StoreError` when the store cannot be read.
    public func villageAreas() throws -> [VillageArea] {
        let villages = try divisions().filter { $0.code.level == .village }
        let chiefs: [String: String] = try reading { db in
            var result: [String: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT id, division FROM field_chief ORDER BY id") {
                let division: String = row["division"], id: String = row["id"]
                if result[division] == nil { result[division] = id }
            }
            return result
        }
        return try read { tx in
            try villages.compactMap { village -> VillageArea? in
                guard let state = try tx.recordState(RecordKey(.division, village.code.rawValue)),
                    let boundary = state.materialized.objectValue?["boundary"], boundary != .null,
                    let polygon = try? boundary.decode(as: Polygon.self)
                else { return nil }
                return VillageArea(code: village.code, boundary: polygon, fieldChief: chiefs[village.code.rawValue])
            }
        }
    }

    /// Places and dispatches alerts in ONE transaction: a case and four tasks for each placed alert not
    /// dispatched before; each other feature reported with its reason. Nothing is half-imported: a
    /// failure rolls the whole import back.
    /// - Parameters:
    ///   - villages: the county's villages (`villageAreas()`).
    /// - Throws: `StoreError` or a `Rejection` from the engine (the whole import is then rolled back).
    public func importAlerts(_ items: [AlertImportItem], villages: [VillageArea], engine: SyncEngine, author: String, physicalNow: Int64) throws -> AlertImportReport {
        var report = AlertImportReport()
        report.features = items.count
        let chiefs = Dictionary(villages.map { ($0.code, $0.fieldChief) }, uniquingKeysWith: { first, _ in first })
        try writer.write { db in
            let tx = SQLiteSyncTransaction(db)
            var seen: [String: Int] = [:]
            var parcelsByVillage: [DivisionCode: [Parcel]] = [:]
            for item in items {
                func refuse(_ error: ValidationError) {
                    report.refused.append(.init(index: item.index, externalID: item.externalID, code: error.code.rawValue, message: error.message, field: error.field))
                }
                let alert: Alert
                switch item.alert {
                case .failure(let error): refuse(error); continue
                case .success(let value): alert = value
                }
                do throws(ValidationError) { try alert.validate(now: Timestamp(milliseconds: physicalNow)) } catch { refuse(error); continue }
                // The same alert twice in one file: the second is reported, not silently merged.
                let key = "\(alert.source.rawValue)\n\(alert.externalID)"
                if let first = seen[key] {
                    refuse(ValidationError(.invalidIdentifier, "Alert \(alert.externalID) repeats feature \(first) of this file.", field: "externalID"))
                    continue
                }
                seen[key] = item.index
                // Dispatched before (an earlier import): nothing to place or write.
                if let earlier = try engine.dispatchedAlert(source: alert.source, externalID: alert.externalID, in: tx) {
                    report.alreadyPresent += 1
                    report.placedByTownship[earlier.township.rawValue, default: 0] += 1
                    report.placed.append(.init(
                        index: item.index, externalID: alert.externalID, caseID: earlier.caseID, township: earlier.township,
                        villages: earlier.village.map { [$0] } ?? [], created: false))
                    continue
                }
                var placement: AlertPlacement
                switch AlertPlacer.place(alert.geometry, in: villages) {
                case .failure(let error): refuse(error); continue
                case .success(let value): placement = value
                }
                var candidates: [Parcel] = []
                for overlap in placement.villages {
                    if parcelsByVillage[overlap.village] == nil {
                        parcelsByVillage[overlap.village] = try String.fetchAll(
                            db, sql: "SELECT body FROM parcel WHERE village = ? ORDER BY id", arguments: [overlap.village.rawValue]
                        ).map { try JSON.decode(Parcel.self, $0) }
                    }
                    candidates += parcelsByVillage[overlap.village]!
                }
                placement.parcels = AlertPlacer.affectedParcels(of: alert.geometry, among: candidates)
                let result = try engine.dispatch(
                    alert, placement: placement, fieldChief: chiefs[placement.mainVillage] ?? nil, author: author, physicalNow: physicalNow, in: tx)
                if result.created { report.created += 1 } else { report.alreadyPresent += 1 }
                report.placedByTownship[result.township.rawValue, default: 0] += 1
                report.placed.append(.init(
                    index: item.index, externalID: alert.externalID, caseID: result.caseID, township: result.township,
                    villages: placement.villages.map(\.village), created: result.created))
            }
        }
        return report
    }

    // MARK: intake credentials

    static func intakeKey(_ secret: String) -> String { "intake-credential:" + Credential.hash(secret) }

    /// Issues a credential for an alert intake device (a tower camera, a drone station): it may post
    /// alerts to `POST /v1/alerts` for the hub's county and nothing else (it is no sync credential).
    /// Only its hash is stored. - Returns: the secret, shown once.
    /// - Throws: `StoreError` when the store cannot be written.
    public func enrolIntake(device: String, now: Int64) throws -> String {
        var rng = SystemRandomNumberGenerator()
        let secret = Credential.generate(using: &rng)
        try setSetting(Self.intakeKey(secret), try JSON.text(IntakeDevice(device: device, issuedAt: now, revoked: false)))
        return secret
    }

    /// Revokes every intake credential of a device. - Returns: how many were revoked.
    /// - Throws: `StoreError` when the store cannot be written.
    @discardableResult
    public func revokeIntake(device: String) throws -> Int {
        try writer.write { db in
            var count = 0
            for row in try Row.fetchAll(db, sql: "SELECT key, value FROM setting WHERE key LIKE 'intake-credential:%' ORDER BY key") {
                let key: String = row["key"], value: String = row["value"]
                var entry = try JSON.decode(IntakeDevice.self, value)
                guard entry.device == device, !entry.revoked else { continue }
                entry.revoked = true
                try db.execute(sql: "UPDATE setting SET value = ? WHERE key = ?", arguments: [try JSON.text(entry), key])
                count += 1
            }
            return count
        }
    }

    /// The intake device a secret belongs to, if any.
    /// - Throws: `StoreError` when the store cannot be read.
    public func intakeDevice(forSecret secret: String) throws -> IntakeDevice? {
        try setting(Self.intakeKey(secret)).map { try JSON.decode(IntakeDevice.self, $0) }
    }
}
