import Foundation
import Testing
import TianzhangDomain
import TianzhangReference

@Suite("Domain validation")
struct DomainValidationTests {
    func refuses(_ code: ValidationError.Code, containing words: String, field: String? = nil, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("expected \(code)", sourceLocation: sourceLocation)
        } catch let error as ValidationError {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
            #expect(error.message.contains(words), "\(error.message)", sourceLocation: sourceLocation)
            if let field { #expect(error.field == field, sourceLocation: sourceLocation) }
        } catch {
            Issue.record("expected a ValidationError, got \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func divisionCodes() throws {
        let village = try DivisionCode("371312001201")
        #expect(village.level == .village)
        #expect(village.parent?.rawValue == "371312001")
        #expect(village.parent?.parent?.rawValue == "371312")
        #expect(village.parent?.parent?.parent == nil)
        #expect(village.county.rawValue == "371312" && village.township?.rawValue == "371312001")
        #expect(try DivisionCode("371312").contains(village))
        #expect(try DivisionCode("371312001").contains(village))
        #expect(!(try DivisionCode("371312004").contains(village)))
        #expect(!village.contains(try DivisionCode("371312001")))
        refuses(.invalidDivisionCode, containing: "digits only") { _ = try DivisionCode("37131A") }
        refuses(.invalidDivisionCode, containing: "has 7 digits") { _ = try DivisionCode("3713120") }
        refuses(.invalidDivisionCode, containing: "no province") { _ = try DivisionCode("991312") }
        refuses(.invalidDivisionCode, containing: "prefecture") { _ = try DivisionCode("371300") }
        refuses(.invalidDivisionCode, containing: "Township part") { _ = try DivisionCode("371312000") }
        refuses(.invalidDivisionCode, containing: "Village part") { _ = try DivisionCode("371312001000") }
        refuses(.wrongDivisionLevel, containing: "township code", field: "township") { _ = try DivisionCode("371312", level: .township, field: "township") }
        // JSON refuses a bad code with a decoding error.
        #expect(throws: DecodingError.self) { _ = try JSONDecoder().decode([DivisionCode].self, from: Data("[\"12\"]".utf8)) }
    }

    @Test func jurisdictions() throws {
        let v201 = try DivisionCode("371312001201"), v202 = try DivisionCode("371312001202")
        #expect(Jurisdiction.county(try DivisionCode("371312")).covers(v201))
        #expect(Jurisdiction.township(try DivisionCode("371312001")).covers(v202))
        #expect(!Jurisdiction.township(try DivisionCode("371312004")).covers(v202))
        #expect(Jurisdiction.villages([v201]).covers(v201))
        #expect(!Jurisdiction.villages([v201]).covers(v202))
        #expect(!Jurisdiction.villages([v201]).covers(try DivisionCode("371312001")), "a patrol does not cover its township")
        let json = try JSONEncoder().encode(Jurisdiction.villages([v202, v201]))
        #expect(String(decoding: json, as: UTF8.self) == #"{"villages":["371312001201","371312001202"]}"#)
        #expect(try JSONDecoder().decode(Jurisdiction.self, from: json) == .villages([v201, v202]))
        #expect(throws: DecodingError.self) { _ = try JSONDecoder().decode(Jurisdiction.self, from: Data(#"{"township":"371312"}"#.utf8)) }
    }

    @Test func landClassesFromTheRealList() throws {
        let catalog = try ReferenceData.landClasses()
        #expect(catalog.classes.values.filter { $0.groupCode == nil }.count == 12)
        #expect(catalog.classes.values.filter { $0.groupCode != nil }.count == 73)
        #expect(try catalog.landClass("0101").name == "水田")
        #expect(try catalog.landClass("0101").isCultivated)
        refuses(.unknownLandClass, containing: "not in GB/T 21010-2017", field: "landClass") { _ = try catalog.landClass("0199") }
        refuses(.unknownLandClass, containing: "is a group", field: "landClass") { _ = try catalog.landClass("01") }
        refuses(.invalidValue, containing: "line 2") { _ = try LandClassCatalog(csv: "code,name,parent_group\n,,\n") }
    }

    static let legalEdges: [(CaseStatus, CaseStatus, ActorRole)] = [
        (.reported, .verifying, .patrol), (.verifying, .confirmed, .township), (.verifying, .dismissed, .township),
        (.confirmed, .stopped, .patrol), (.stopped, .rectifying, .township), (.rectifying, .rectified, .township),
        (.rectified, .closed, .county), (.dismissed, .closed, .county), (.rectified, .rectifying, .township),
        (.closed, .reported, .township), (.closed, .reported, .county),
    ]

    @Test("every legal edge is accepted", arguments: legalEdges.indices)
    func legalTransition(index: Int) throws {
        let (from, to, role) = Self.legalEdges[index]
        try CaseWorkflow.check(from: from, to: to, by: role)
    }

    static let illegalEdges: [(CaseStatus, CaseStatus, ActorRole, IllegalTransition.Reason)] = [
        (.reported, .confirmed, .township, .notAnEdge), (.reported, .closed, .county, .notAnEdge),
        (.confirmed, .dismissed, .county, .notAnEdge), (.stopped, .verifying, .township, .notAnEdge),
        (.closed, .rectifying, .county, .notAnEdge), (.rectified, .closed, .township, .closingIsCountyOnly),
        (.dismissed, .closed, .patrol, .closingIsCountyOnly), (.closed, .reported, .patrol, .reopenNotAllowedForRole),
        (.verifying, .verifying, .county, .sameStatus),
    ]

    @Test("illegal transitions are typed errors that say which and why", arguments: illegalEdges.indices)
    func illegalTransition(index: Int) {
        let (from, to, role, reason) = Self.illegalEdges[index]
        do {
            try CaseWorkflow.check(from: from, to: to, by: role)
            Issue.record("\(from) → \(to) by \(role) was allowed")
        } catch {
            #expect(error.reason == reason)
            #expect(error.from == from && error.to == to)
            #expect(error.description.contains("\(from.rawValue) → \(to.rawValue)"))
            #expect(error.validationError.field == "status")
        }
    }

    @Test func reopeningStartsANewRound() throws {
        var record = EnforcementCase(
            id: try RecordID("C1"), source: .patrol, violation: .soilExtraction, location: Coordinate(longitude: 118.3, latitude: 35),
            township: try DivisionCode("371312001"), village: try DivisionCode("371312001201"), discoveredAt: Timestamp(milliseconds: 0), status: .rectified)
        try record.transition(to: .closed, by: .county)
        try record.transition(to: .reported, by: .township)
        #expect(record.round == 2 && record.status == .reported)
        #expect(throws: IllegalTransition.self) { try record.transition(to: .closed, by: .county) }
        #expect(record.status == .reported, "a refused transition changes nothing")
    }

    @Test func threeOnesDeadlines() {
        let discovered = Timestamp(milliseconds: 1_000_000)
        let deadlines = ThreeOnesDeadlines(discoveredAt: discovered)
        #expect(deadlines.reportBy == discovered.adding(hours: 1) && deadlines.onSiteBy == discovered.adding(hours: 1))
        #expect(deadlines.restoreBy == discovered.adding(hours: 24))
        #expect(deadlines.overdue(at: discovered.adding(minutes: 59), status: .reported).isEmpty)
        #expect(deadlines.overdue(at: discovered.adding(minutes: 61), status: .reported) == [.report, .onSite])
        #expect(deadlines.overdue(at: discovered.adding(hours: 2), status: .verifying).isEmpty)
        #expect(deadlines.overdue(at: discovered.adding(hours: 25), status: .stopped) == [.restore])
        #expect(deadlines.overdue(at: discovered.adding(hours: 25), status: .rectified).isEmpty)
        #expect(deadlines.overdue(at: discovered.adding(hours: 25), status: .dismissed).isEmpty)
    }

    @Test func recordIDs() throws {
        var rng = SplitMix64(seed: 1)
        let early = RecordID.generate(at: Timestamp(milliseconds: 1_763_884_800_000), using: &rng)
        let late = RecordID.generate(at: Timestamp(milliseconds: 1_763_884_800_001), using: &rng)
        #expect(early.rawValue.count == 26 && early < late)
        #expect(early.ulidTimestamp == Timestamp(milliseconds: 1_763_884_800_000))
        #expect(RecordID.generate(at: Timestamp(milliseconds: 5), using: &rng) != RecordID.generate(at: Timestamp(milliseconds: 5), using: &rng))
        refuses(.invalidIdentifier, containing: "only letters") { _ = try RecordID("a/b") }
        refuses(.invalidIdentifier, containing: "1 to 64") { _ = try RecordID("") }
        refuses(.invalidIdentifier, containing: "1 to 64") { _ = try RecordID(String(repeating: "x", count: 65)) }
        #expect(try RecordID("371312001201-0042").ulidTimestamp == nil)
    }

    @Test func timestamps() {
        #expect(Timestamp(milliseconds: 0).description == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp(milliseconds: 1_763_884_800_123).description == "2025-11-23T08:00:00.123Z")
        #expect(Timestamp(milliseconds: -1).description == "1969-12-31T23:59:59.999Z")
        // 23:30 and 00:30 China time fall on different days.
        let night = Timestamp(milliseconds: Timestamp.days(year: 2025, month: 11, day: 23) * 86_400_000 + 15 * 3_600_000 + 30 * 60_000)
        #expect(night.day() == Timestamp.days(year: 2025, month: 11, day: 23))
        #expect(night.adding(hours: 1).day() == Timestamp.days(year: 2025, month: 11, day: 24))
    }

    @Test func attachmentsCheckInsAndTimeline() throws {
        let digest = String(repeating: "ab", count: 32)
        try AttachmentMetadata(sha256: digest, sizeBytes: 1024, mediaType: "image/jpeg", caseID: nil, createdAt: Timestamp(milliseconds: 0), author: "a").validate()
        refuses(.invalidValue, containing: "SHA-256", field: "sha256") {
            try AttachmentMetadata(sha256: "XYZ", sizeBytes: 1, mediaType: "image/jpeg", caseID: nil, createdAt: Timestamp(milliseconds: 0), author: "a").validate()
        }
        refuses(.invalidValue, containing: "64 MiB", field: "sizeBytes") {
            try AttachmentMetadata(sha256: digest, sizeBytes: 0, mediaType: "image/jpeg", caseID: nil, createdAt: Timestamp(milliseconds: 0), author: "a").validate()
        }
        refuses(.invalidValue, containing: "not accepted", field: "mediaType") {
            try AttachmentMetadata(sha256: digest, sizeBytes: 5, mediaType: "text/html", caseID: nil, createdAt: Timestamp(milliseconds: 0), author: "a").validate()
        }
        let village = try DivisionCode("371312001201")
        func checkIn(_ position: Coordinate, accuracy: Double = 5) throws -> CheckIn {
            CheckIn(id: try RecordID("K1"), parcelID: try RecordID("P1"), village: village, author: "chief", at: Timestamp(milliseconds: 0), position: position, accuracyMetres: accuracy, observation: "")
        }
        try checkIn(Coordinate(longitude: 118.3, latitude: 35)).validate()
        refuses(.invalidGeometry, containing: "not finite", field: "position") { try checkIn(Coordinate(longitude: .nan, latitude: 35)).validate() }
        refuses(.invalidGeometry, containing: "out of range", field: "position") { try checkIn(Coordinate(longitude: 200, latitude: 35)).validate() }
        refuses(.invalidValue, containing: "accuracy", field: "accuracyMetres") { try checkIn(Coordinate(longitude: 118, latitude: 35), accuracy: -1).validate() }
        refuses(.missingField, containing: "text or an attachment", field: "text") {
            try TimelineEntry(id: try RecordID("T1"), caseID: try RecordID("C1"), kind: .note, text: "", author: "a", at: Timestamp(milliseconds: 0)).validate()
        }
        refuses(.invalidValue, containing: "SHA-256", field: "attachmentIDs[0]") {
            try TimelineEntry(id: try RecordID("T1"), caseID: try RecordID("C1"), kind: .evidence, text: "photo", attachmentIDs: ["nope"], author: "a", at: Timestamp(milliseconds: 0)).validate()
        }
    }

    @Test func parcelValidationNamesTheField() throws {
        let catalog = try ReferenceData.landClasses()
        let good = Parcel(
            id: try RecordID("371312001201-0001"), village: try DivisionCode("371312001201"), landClass: "0101", areaMu: 5,
            isPermanentBasicFarmland: true, fieldChief: "chief", geometry: Polygon(exterior: Self.squareRing(118.3, 35.0, 0.001)))
        try good.validate(landClasses: catalog)
        var bad = good
        bad.landClass = "9999"
        refuses(.unknownLandClass, containing: "9999", field: "landClass") { try bad.validate(landClasses: catalog) }
        bad = good
        bad.village = try DivisionCode("371312001")
        refuses(.wrongDivisionLevel, containing: "village", field: "village") { try bad.validate(landClasses: catalog) }
        bad = good
        bad.areaMu = .nan
        refuses(.invalidValue, containing: "positive", field: "areaMu") { try bad.validate(landClasses: catalog) }
        bad = good
        bad.geometry = Polygon(exterior: Array(Self.squareRing(118.3, 35.0, 0.001).dropLast()))
        refuses(.invalidGeometry, containing: "not closed", field: "geometry.rings[0]") { try bad.validate(landClasses: catalog) }
    }

    /// A closed square ring (own helper, so this file does not depend on the geometry tests).
    static func squareRing(_ lon: Double, _ lat: Double, _ size: Double) -> [Coordinate] {
        [(lon, lat), (lon + size, lat), (lon + size, lat + size), (lon, lat + size), (lon, lat)].map { Coordinate(longitude: $0.0, latitude: $0.1) }
    }

    @Test func divisionCodeLevelsAndParentChain() throws {
        refuses(.invalidDivisionCode, containing: "has 5 digits") { _ = try DivisionCode("37131") }
        refuses(.invalidDivisionCode, containing: "has 13 digits") { _ = try DivisionCode("3713120012011") }
        refuses(.invalidDivisionCode, containing: "has 0 digits") { _ = try DivisionCode("") }
        refuses(.invalidDivisionCode, containing: "digits only", field: "village") { _ = try DivisionCode("３７１３１２", field: "village") }
        refuses(.wrongDivisionLevel, containing: "is a village code", field: "township") { _ = try DivisionCode("371312001201", level: .township, field: "township") }
        refuses(.wrongDivisionLevel, containing: "is a county code") { _ = try DivisionCode("371312", level: .village) }
        let township = try DivisionCode("371312104", level: .township)
        #expect(township.parent == (try DivisionCode("371312")) && township.county == township.parent && township.township == township)
        #expect(try DivisionCode("371312").township == nil && (try DivisionCode("371312")).county.rawValue == "371312")
        #expect(township.contains(township), "a division contains itself")
        #expect(!(try DivisionCode("371313")).contains(township), "a sibling county does not")
        #expect(!(try DivisionCode("371312001")).contains(try DivisionCode("371312104")))
    }

    @Test("the table of legal edges is the whole workflow graph")
    func legalEdgeTableIsComplete() {
        let graph = Set(CaseStatus.allCases.flatMap { from in CaseWorkflow.successors(of: from).map { "\(from.rawValue)→\($0.rawValue)" } })
        let table = Set(Self.legalEdges.map { "\($0.0.rawValue)→\($0.1.rawValue)" })
        #expect(table == graph)
        #expect(graph.count == 10)
    }

    @Test("every pair of statuses, for every role, is accepted or refused for exactly one stated reason")
    func everyTransition() {
        for from in CaseStatus.allCases {
            for to in CaseStatus.allCases {
                for role in ActorRole.allCases {
                    let expected: IllegalTransition.Reason? =
                        from == to ? .sameStatus
                        : !CaseWorkflow.successors(of: from).contains(to) ? .notAnEdge
                        : to == .closed && role != .county ? .closingIsCountyOnly
                        : from == .closed && role == .patrol ? .reopenNotAllowedForRole : nil
                    do {
                        try CaseWorkflow.check(from: from, to: to, by: role)
                        #expect(expected == nil, "\(from) → \(to) by \(role) was allowed")
                    } catch {
                        #expect(error.reason == expected, "\(from) → \(to) by \(role)")
                        let code: ValidationError.Code = expected == .notAnEdge || expected == .sameStatus ? .illegalTransition : .notAuthorized
                        #expect(error.validationError.code == code)
                    }
                }
            }
        }
        // The reasons' wire strings never change.
        #expect([IllegalTransition.Reason.notAnEdge, .closingIsCountyOnly, .reopenNotAllowedForRole, .sameStatus].map(\.rawValue)
            == ["not_an_edge", "closing_is_county_only", "reopen_not_allowed_for_role", "same_status"])
    }

    @Test func reopeningTwiceCountsRoundsAndOnlyFromClosed() throws {
        var record = EnforcementCase(
            id: try RecordID("C2"), source: .satellite, violation: .greenhouseHouse, location: Coordinate(longitude: 118.3, latitude: 35),
            township: try DivisionCode("371312001"), village: nil, discoveredAt: Timestamp(milliseconds: 0), status: .dismissed)
        try record.transition(to: .closed, by: .county)
        try record.transition(to: .reported, by: .county)
        for next in [CaseStatus.verifying, .confirmed, .stopped, .rectifying, .rectified] { try record.transition(to: next, by: .township) }
        #expect(record.round == 2, "only a re-open starts a round")
        try record.transition(to: .closed, by: .county)
        #expect(throws: IllegalTransition.self) { try record.transition(to: .reported, by: .patrol) }
        #expect(record.round == 2 && record.status == .closed)
        try record.transition(to: .reported, by: .township)
        #expect(record.round == 3)
    }

    @Test func recordIDsSortByTimeAndDecode() throws {
        var rng = SplitMix64(seed: 42)
        let times = (0..<200).map { Timestamp(milliseconds: 1_700_000_000_000 + Int64($0) * 37) }
        let ids = times.map { RecordID.generate(at: $0, using: &rng) }
        #expect(ids == ids.sorted(), "ids sort as their times do")
        #expect(ids.map(\.ulidTimestamp) == times.map { Optional($0) })
        #expect(ids.allSatisfy { $0.rawValue.count == 26 && $0.rawValue.allSatisfy { "0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains($0) } })
        // The same seed replays the same ids.
        var again = SplitMix64(seed: 42)
        #expect(RecordID.generate(at: times[0], using: &again) == ids[0])
        #expect(try RecordID("UUUUUUUUUUUUUUUUUUUUUUUUUU").ulidTimestamp == nil, "U is not Crockford base32")
        #expect(try RecordID("0000000000" + String(repeating: "Z", count: 16)).ulidTimestamp == Timestamp(milliseconds: 0))
        refuses(.invalidIdentifier, containing: "only letters", field: "parcelID") { _ = try RecordID("地块1", field: "parcelID") }
        refuses(.invalidIdentifier, containing: "only letters") { _ = try RecordID("a b") }
        #expect(throws: DecodingError.self) { _ = try JSONDecoder().decode([RecordID].self, from: Data(#"["a/b"]"#.utf8)) }
    }

    @Test func timestampDescriptions() {
        #expect(Timestamp(milliseconds: 951_782_400_000).description == "2000-02-29T00:00:00.000Z", "a leap day")
        #expect(Timestamp(milliseconds: 4_102_444_799_999).description == "2099-12-31T23:59:59.999Z")
        #expect(Timestamp(milliseconds: -86_400_000).description == "1969-12-31T00:00:00.000Z")
        #expect(Timestamp(milliseconds: 0).adding(hours: 25).description == "1970-01-02T01:00:00.000Z")
        #expect(Timestamp.days(year: 2000, month: 3, day: 1) - Timestamp.days(year: 2000, month: 2, day: 28) == 2)
    }

    @Test func moreAttachmentCheckInAndTimelineErrors() throws {
        let digest = String(repeating: "0f", count: 32)
        func attachment(_ sha: String = String(repeating: "0f", count: 32), size: Int64 = 1, type: String = "image/png") -> AttachmentMetadata {
            AttachmentMetadata(sha256: sha, sizeBytes: size, mediaType: type, caseID: nil, createdAt: Timestamp(milliseconds: 0), author: "a")
        }
        try attachment(size: AttachmentMetadata.sizeBytesMax).validate()
        refuses(.invalidValue, containing: "64 MiB", field: "sizeBytes") { try attachment(size: AttachmentMetadata.sizeBytesMax + 1).validate() }
        refuses(.invalidValue, containing: "SHA-256", field: "sha256") { try attachment(digest.uppercased()).validate() }
        refuses(.invalidValue, containing: "SHA-256", field: "sha256") { try attachment(String(digest.dropLast())).validate() }
        refuses(.invalidValue, containing: "image/jpeg", field: "mediaType") { try attachment(type: "image/gif").validate() }
        let checkIn = CheckIn(
            id: try RecordID("K2"), parcelID: try RecordID("P2"), village: try DivisionCode("371312001"), author: "chief", at: Timestamp(milliseconds: 0),
            position: Coordinate(longitude: 118.3, latitude: 35), accuracyMetres: 5, observation: "")
        refuses(.wrongDivisionLevel, containing: "12-digit", field: "village") { try checkIn.validate() }
        var noAuthor = checkIn
        noAuthor.village = try DivisionCode("371312001201")
        try noAuthor.validate()
        noAuthor.author = ""
        refuses(.missingField, containing: "field chief", field: "author") { try noAuthor.validate() }
        var tooVague = noAuthor
        tooVague.author = "chief"
        tooVague.accuracyMetres = 10_001
        refuses(.invalidValue, containing: "10000", field: "accuracyMetres") { try tooVague.validate() }
        let entry = TimelineEntry(id: try RecordID("T2"), caseID: try RecordID("C1"), kind: .evidence, text: "", attachmentIDs: [digest], author: "", at: Timestamp(milliseconds: 0))
        refuses(.missingField, containing: "author", field: "author") { try entry.validate() }
        var photoOnly = entry
        photoOnly.author = "clerk"
        try photoOnly.validate()
        photoOnly.attachmentIDs.append("bad")
        refuses(.invalidValue, containing: "SHA-256", field: "attachmentIDs[1]") { try photoOnly.validate() }
    }
}
