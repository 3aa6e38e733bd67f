import Foundation
import Hummingbird
import NIOCore
import TianzhangDomain
import TianzhangSQLite
import TianzhangSync

/// `POST /v1/alerts`: the intake of alerts from tower cameras and drone flights (Protocol/SPEC.md §9).
extension HubServer {
    /// The body of `POST /v1/alerts` (`Protocol/schemas/alert.schema.json`).
    public struct AlertRequest: Codable, Sendable {
        public var source: CaseSource
        public var externalID: String
        /// Milliseconds since 1970 (UTC): when the alert was seen.
        public var at: Int64
        public var geometry: AlertGeometry
        public var violation: ViolationType?
        public var note: String?

        public init(source: CaseSource, externalID: String, at: Int64, geometry: AlertGeometry, violation: ViolationType? = nil, note: String? = nil) {
            self.source = source
            self.externalID = externalID
            self.at = at
            self.geometry = geometry
            self.violation = violation
            self.note = note
        }
    }

    /// The answer: the case and its four tasks; the placement when the case was made by this request.
    public struct AlertResponse: Codable, Sendable {
        public var caseID: String
        public var taskIDs: [String]
        public var township: DivisionCode
        public var village: DivisionCode?
        /// True when this alert (source + external id) had been received before: nothing new was made.
        public var duplicate: Bool
        public var placement: AlertPlacement?
    }

    /// Adds `POST /v1/alerts` to the router.
    func addAlertRoutes(to router: Router<BasicRequestContext>) {
        router.post("/v1/alerts") { request, _ in try await receiveAlert(request) }
    }

    /// Authenticates an intake device (or a county-wide sync credential), places the alert in the
    /// county's villages and dispatches it in one transaction. 201 with the new case, 200 when the alert
    /// was received before.
    /// - Throws: nothing; every failure is a JSON error: `unknown_credential` / `revoked_credential` (401),
    ///   `not_authorized` (403), `malformed_json`, `unsupported_encoding` (400), `body_too_large` (413),
    ///   `unsupported_media_type` (415), `invalid_value`, `outside_county`, `invalid_geometry`,
    ///   `geometry_too_large`, `not_a_polygon` (422), `unavailable` (503).
    func receiveAlert(_ request: Request) async throws -> Response {
        do {
            let author = try authenticateIntake(request)
            try ReplicaServer.checkContentType(request.headers[.contentType])
            let buffer: ByteBuffer
            do { buffer = try await request.body.collect(upTo: configuration.limits.batchBytesMax) } catch {
                throw WireError(413, "body_too_large", "The body is larger than \(configuration.limits.batchBytesMax) bytes.")
            }
            var data = Data(buffer.readableBytesView)
            if request.headers[.contentEncoding]?.lowercased() == "gzip" { data = try Wire.gunzip(data, maxBytes: configuration.limits.batchBytesMax) }
            try ReplicaServer.checkEncoding(data)
            let body = try Wire.decode(AlertRequest.self, from: data)
            let alert = Alert(
                source: body.source, externalID: body.externalID, at: Timestamp(milliseconds: body.at), geometry: body.geometry,
                violation: body.violation ?? .other, note: body.note ?? "")
            do { try alert.validate(now: Timestamp(milliseconds: clock())) } catch { throw WireError(422, error.code.rawValue, error.message, field: error.field) }
            let engine = self.engine
            if let earlier = try store.read({ try engine.dispatchedAlert(source: alert.source, externalID: alert.externalID, in: $0) }) {
                return try respond(AlertResponse(earlier, placement: nil), status: 200, gzip: false)
            }
            let villages = try store.villageAreas()
            var placement: AlertPlacement
            switch AlertPlacer.place(alert.geometry, in: villages) {
            case .success(let value): placement = value
            case .failure(let error): throw WireError(422, error.code.rawValue, error.message, field: error.field)
            }
            let parcels = try placement.villages.flatMap { try store.parcels(inVillage: $0.village) }
            placement.parcels = AlertPlacer.affectedParcels(of: alert.geometry, among: parcels)
            let chief = villages.first { $0.code == placement.mainVillage }?.fieldChief
            let now = clock()
            let result = try store.write { tx in
                try engine.dispatch(alert, placement: placement, fieldChief: chief, author: author, physicalNow: now, in: tx)
            }
            return try respond(AlertResponse(result, placement: result.created ? placement : nil), status: result.created ? 201 : 200, gzip: false)
        } catch let error as WireError {
            return try respond(WireError.Envelope(error: error.body), status: error.status, gzip: false)
        } catch {
            return try respond(WireError.Envelope(error: ProtocolError(code: "unavailable", message: "The hub could not take the alert; retry later.")), status: 503, gzip: false)
        }
    }

    /// The author of an intake: `intake:<device>` for an intake credential, or the replica of a sync
    /// credential whose jurisdiction is this county.
    /// - Throws: `WireError` `unknown_credential`, `revoked_credential` (401) or `not_authorized` (403).
    func authenticateIntake(_ request: Request) throws -> String {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw WireError(401, "unknown_credential", "Send the intake credential the county issued: Authorization: Bearer <credential>.")
        }
        let secret = String(header.dropFirst(7))
        if let device = try store.intakeDevice(forSecret: secret) {
            guard !device.revoked else { throw WireError(401, "revoked_credential", "The intake credential of \(device.device) was revoked.") }
            return "intake:\(device.device)"
        }
        guard let enrolment = try store.enrolment(forSecret: secret) else {
            throw WireError(401, "unknown_credential", "This credential is not known to the county hub.")
        }
        guard !enrolment.revoked else {
            throw WireError(401, "revoked_credential", "This credential of \(enrolment.replica) was revoked by the county.")
        }
        guard enrolment.jurisdiction == .county(county) else {
            throw WireError(403, "not_authorized", "Alerts are taken from intake devices and county-wide credentials; \(enrolment.replica) works for \(Wire.describe(enrolment.jurisdiction)).")
        }
        return enrolment.replica.rawValue
    }
}

extension HubServer.AlertResponse {
    init(_ dispatched: DispatchedAlert, placement: AlertPlacement?) {
        self.init(
            caseID: dispatched.caseID, taskIDs: dispatched.taskIDs, township: dispatched.township, village: dispatched.village,
            duplicate: !dispatched.created, placement: placement)
    }
}
