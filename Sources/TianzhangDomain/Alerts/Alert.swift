/// The geometry an alert arrives with, as GeoJSON (RFC 7946, CRS84) describes it.
///
/// JSON: `{"type": "Point", "coordinates": [lon, lat]}`, `{"type": "Polygon", "coordinates": [[[lon, lat], …]]}`
/// or `{"type": "MultiPolygon", "coordinates": [[[[lon, lat], …]]]}`. Any other GeoJSON type decodes as
/// `.unsupported` (placement refuses it with `not_a_polygon`); coordinates of the wrong shape fail to decode.
public enum AlertGeometry: Hashable, Sendable {
    /// A camera's or a drone's sighting: one position.
    case point(Coordinate)
    /// A Polygon (one element) or a MultiPolygon (its parts), unvalidated.
    case polygons([Polygon])
    /// A GeoJSON geometry of another type (LineString, GeometryCollection …).
    case unsupported(type: String)
}

extension AlertGeometry: Codable {
    enum CodingKeys: String, CodingKey { case type, coordinates }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let type = try container.decode(String.self, forKey: .type)
        func polygon(_ rings: [[[Double]]], at path: String) throws -> Polygon {
            Polygon(rings: try rings.enumerated().map { r, ring in
                try ring.enumerated().map { i, position in
                    guard position.count >= 2 else {
                        throw DecodingError.dataCorruptedError(
                            forKey: .coordinates, in: container, debugDescription: "Position \(path)[\(r)][\(i)] is not [longitude, latitude].")
                    }
                    return Coordinate(longitude: position[0], latitude: position[1])
                }
            })
        }
        switch type {
        case "Point":
            let position = try container.decode([Double].self, forKey: .coordinates)
            guard position.count >= 2 else {
                throw DecodingError.dataCorruptedError(forKey: .coordinates, in: container, debugDescription: "A Point's coordinates are [longitude, latitude].")
            }
            self = .point(Coordinate(longitude: position[0], latitude: position[1]))
        case "Polygon":
            self = .polygons([try polygon(try container.decode([[[Double]]].self, forKey: .coordinates), at: "coordinates")])
        case "MultiPolygon":
            let parts = try container.decode([[[[Double]]]].self, forKey: .coordinates)
            self = .polygons(try parts.enumerated().map { try polygon($1, at: "coordinates[\($0)]") })
        default:
            self = .unsupported(type: type)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        func positions(_ polygon: Polygon) -> [[[Double]]] { polygon.rings.map { $0.map { [$0.longitude, $0.latitude] } } }
        switch self {
        case .point(let point):
            try container.encode("Point", forKey: .type)
            try container.encode([point.longitude, point.latitude], forKey: .coordinates)
        case .polygons(let parts) where parts.count == 1:
            try container.encode("Polygon", forKey: .type)
            try container.encode(positions(parts[0]), forKey: .coordinates)
        case .polygons(let parts):
            try container.encode("MultiPolygon", forKey: .type)
            try container.encode(parts.map(positions), forKey: .coordinates)
        case .unsupported(let type):
            try container.encode(type, forKey: .type)
        }
    }
}

/// An alert (预警): a suspected violation seen by a satellite, a drone flight or a tower camera, before
/// the county turns it into a case and four verification tasks.
public struct Alert: Hashable, Sendable {
    public var source: CaseSource
    /// The sender's own id for it (a satellite patch's tile and polygon id, a camera event id). With
    /// `source` it identifies the alert: the same pair dispatched twice creates one case.
    public var externalID: String
    /// When it was seen: the case's discovery time, from which the "three ones" clocks run.
    public var at: Timestamp
    public var geometry: AlertGeometry
    public var violation: ViolationType
    public var note: String

    public init(source: CaseSource, externalID: String, at: Timestamp, geometry: AlertGeometry, violation: ViolationType = .other, note: String = "") {
        self.source = source
        self.externalID = externalID
        self.at = at
        self.geometry = geometry
        self.violation = violation
        self.note = note
    }

    /// The longest external id accepted.
    public static let externalIDMaxLength = 128

    /// How far ahead of the receiver's clock an alert's time may be (a camera's clock a little fast).
    public static let futureToleranceMilliseconds: Int64 = 5 * 60_000

    /// Checks the external id (1–128 characters, no control characters) and the time (after 2000, and
    /// at most 5 minutes after `now` when given: the three-ones clocks cannot start in the future).
    /// - Throws: `ValidationError` (`invalid_value` at `externalID` or `at`).
    public func validate(now: Timestamp? = nil) throws(ValidationError) {
        guard !externalID.isEmpty, externalID.count <= Self.externalIDMaxLength,
            !externalID.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            throw ValidationError(.invalidValue, "An alert's external id is 1–\(Self.externalIDMaxLength) printable characters.", field: "externalID")
        }
        guard at.milliseconds >= 946_684_800_000 else {
            throw ValidationError(.invalidValue, "An alert's time is milliseconds since 1970 and lies after 2000 (got \(at.milliseconds)).", field: "at")
        }
        if let now, at.milliseconds > now.milliseconds + Self.futureToleranceMilliseconds {
            throw ValidationError(.invalidValue, "The alert is timed \((at.milliseconds - now.milliseconds) / 60_000) min after the hub's clock (\(now)); correct the device clock.", field: "at")
        }
    }
}

extension ValidationError.Code {
    /// An alert that overlaps no village of the county.
    public static let outsideCounty: Self = "outside_county"
    /// An alert whose geometry is neither a (Multi)Polygon nor a Point.
    public static let notAPolygon: Self = "not_a_polygon"
}

extension TaskRecipient {
    /// Who a task for this recipient is addressed to: the unit's id in the township (`squad-<township>`,
    /// `office-<township>`, `government-<township>`), or the village's field chief.
    public func assignee(township: DivisionCode, fieldChief: String) -> String {
        switch self {
        case .enforcementSquad: "squad-\(township.rawValue)"
        case .townshipOffice: "office-\(township.rawValue)"
        case .townshipGovernment: "government-\(township.rawValue)"
        case .fieldChief: fieldChief
        }
    }
}
