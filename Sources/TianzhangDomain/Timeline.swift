/// One append-only entry of a case's timeline: a note, a decision, a piece of evidence, an assignment.
/// Entries are never edited or removed; every entry from every side is kept.
public struct TimelineEntry: Hashable, Sendable, Codable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case note, decision, evidence, assignment, statusChange
    }

    public var id: RecordID
    public var caseID: RecordID
    public var kind: Kind
    public var text: String
    /// SHA-256 ids of attachments (photos) this entry refers to.
    public var attachmentIDs: [String]
    /// Person id of the author.
    public var author: String
    public var at: Timestamp

    public init(id: RecordID, caseID: RecordID, kind: Kind, text: String, attachmentIDs: [String] = [], author: String, at: Timestamp) {
        self.id = id
        self.caseID = caseID
        self.kind = kind
        self.text = text
        self.attachmentIDs = attachmentIDs
        self.author = author
        self.at = at
    }

    /// - Throws: `ValidationError` for an empty author or text, or a malformed attachment id.
    public func validate() throws(ValidationError) {
        guard !author.isEmpty else { throw ValidationError(.missingField, "A timeline entry needs an author.", field: "author") }
        guard !text.isEmpty || !attachmentIDs.isEmpty else {
            throw ValidationError(.missingField, "A timeline entry needs text or an attachment.", field: "text")
        }
        for (index, attachment) in attachmentIDs.enumerated() {
            try AttachmentMetadata.validateDigest(attachment, field: "attachmentIDs[\(index)]")
        }
    }
}

/// A patrol check-in (巡田打卡): who, when, where, which parcel, what was seen. Immutable once made.
public struct CheckIn: Hashable, Sendable, Codable {
    public var id: RecordID
    public var parcelID: RecordID
    public var village: DivisionCode
    /// Person id of the field chief.
    public var author: String
    public var at: Timestamp
    public var position: Coordinate
    /// Horizontal GPS accuracy in metres.
    public var accuracyMetres: Double
    public var observation: String
    /// Where the position lay relative to the parcel when the check-in was made.
    public var geofence: GeofenceResult?

    public init(
        id: RecordID, parcelID: RecordID, village: DivisionCode, author: String, at: Timestamp, position: Coordinate,
        accuracyMetres: Double, observation: String, geofence: GeofenceResult? = nil
    ) {
        self.id = id
        self.parcelID = parcelID
        self.village = village
        self.author = author
        self.at = at
        self.position = position
        self.accuracyMetres = accuracyMetres
        self.observation = observation
        self.geofence = geofence
    }

    /// - Throws: `ValidationError` for a bad position, accuracy or village code.
    public func validate() throws(ValidationError) {
        guard village.level == .village else {
            throw ValidationError(.wrongDivisionLevel, "A check-in's village must be a 12-digit code, not \(village).", field: "village")
        }
        do { try position.validate() } catch { throw error.nested(under: "position") }
        guard accuracyMetres.isFinite, accuracyMetres >= 0, accuracyMetres <= 10_000 else {
            throw ValidationError(.invalidValue, "GPS accuracy must be between 0 and 10000 m, not \(accuracyMetres).", field: "accuracyMetres")
        }
        guard !author.isEmpty else { throw ValidationError(.missingField, "A check-in needs its field chief.", field: "author") }
    }
}

/// Where a point lies relative to a parcel.
public enum GeofenceResult: Hashable, Sendable, Codable {
    case inside
    /// Outside the polygon, but within the tolerance; the distance to its boundary in metres.
    case withinTolerance(distanceMetres: Double)
    /// Farther than the tolerance; the distance to the boundary in metres.
    case outside(distanceMetres: Double)
}
