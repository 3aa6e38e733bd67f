import Foundation
import Testing
import TianzhangDomain
@testable import TianzhangReference
@testable import TianzhangSeed

@Suite("County generator and GeoJSON")
struct CountyGeneratorTests {
    let catalog = try! ReferenceData.landClasses()

    func generate(_ county: String, seed: UInt64 = 1, box: BoundingBox? = nil) throws -> GeneratedCounty {
        let configuration = CountyGenerator.Configuration(seed: seed, parcelsPerVillage: 6...9, box: box)
        return CountyGenerator(configuration: configuration, landClasses: catalog).generate(county: try ReferenceData.countyFile(code: county))
    }

    /// The township rows of the bundled file, read as raw text (independent of the parser).
    func rawTownshipRows(_ file: String) throws -> [String: String] {
        let lines = try ReferenceData.text(file).split(whereSeparator: \.isNewline).map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        return Dictionary(uniqueKeysWithValues: lines.filter { $0.count == 4 && $0[2] == "township" }.map { ($0[0], $0[1]) })
    }

    // MARK: - Generator

    @Test("every township of the real list is generated, with synthetic villages under it",
          arguments: [("371312", "divisions-371312-hedong.csv", 11), ("371525", "divisions-371525-guanxian.csv", 18)])
    func everyRealTownship(county: String, file: String, townshipCount: Int) throws {
        let generated = try generate(county)
        let loaded = try ReferenceData.countyFile(code: county)
        let raw = try rawTownshipRows(file)
        // SOURCES.md: 河东区 has 11 townships/sub-districts, 冠县 18.
        #expect(raw.count == townshipCount)
        #expect(Dictionary(uniqueKeysWithValues: loaded.townships.map { ($0.code.rawValue, $0.name) }) == raw, "the loader reads every row")
        #expect(generated.townships == loaded.townships)
        #expect(generated.county == loaded.county && generated.county.code.rawValue == county)
        #expect(Set(generated.villages.map { $0.code.township!.rawValue }) == Set(raw.keys), "every township has villages")
        #expect(generated.villages.allSatisfy { $0.synthetic && $0.name.hasSuffix("村") })
        #expect(generated.villages.allSatisfy { Int($0.code.rawValue.suffix(3))! >= 201 }, "village codes are township + 2NN")
        #expect(generated.townships.allSatisfy { !$0.synthetic })
        let perTownship = Dictionary(grouping: generated.villages, by: { $0.code.township! })
        #expect(perTownship.values.allSatisfy { (4...7).contains($0.count) && Set($0.map(\.name)).count == $0.count })
    }

    @Test func sameSeedSameBytesDifferentSeedDifferentCounty() throws {
        let a = try generate("371312", seed: 7), b = try generate("371312", seed: 7), c = try generate("371312", seed: 8)
        #expect(a == b)
        #expect(GeoJSON.featureCollection(parcels: a.parcels) == GeoJSON.featureCollection(parcels: b.parcels))
        #expect(a.cases.map(\.id) == b.cases.map(\.id))
        #expect(a.parcels != c.parcels)
        #expect(a.cases.map(\.id) != c.cases.map(\.id))
        #expect(GeoJSON.featureCollection(parcels: a.parcels) != GeoJSON.featureCollection(parcels: c.parcels))
    }

    @Test func parcelsAreValidConvexAndNeverOverlap() throws {
        let county = try generate("371312")
        #expect(county.parcels.count > 300)
        for parcel in county.parcels { try parcel.validate(landClasses: catalog) }
        #expect(Set(county.parcels.map(\.id)).count == county.parcels.count, "parcel ids are unique")
        for parcel in county.parcels {
            let suffix = parcel.id.rawValue.dropFirst(13)
            #expect(parcel.id.rawValue.hasPrefix(parcel.village.rawValue + "-") && suffix.count == 4 && Int(suffix) != nil, "\(parcel.id)")
        }
        let byVillage = Dictionary(grouping: county.parcels, by: \.village)
        for (_, parcels) in byVillage {
            for i in parcels.indices {
                for j in parcels.indices where j > i {
                    #expect(!parcels[i].geometry.overlaps(parcels[j].geometry), "\(parcels[i].id) overlaps \(parcels[j].id)")
                }
            }
        }
        // Convex and counter-clockwise (RFC 7946 exterior rings): every turn is to the left.
        var cornerCounts: Set<Int> = []
        for parcel in county.parcels {
            let ring = parcel.geometry.exterior
            cornerCounts.insert(ring.count - 1)
            for i in 0..<(ring.count - 1) {
                let a = ring[i], b = ring[i + 1], c = ring[(i + 2) % (ring.count - 1)]
                let turn = (b.longitude - a.longitude) * (c.latitude - a.latitude) - (b.latitude - a.latitude) * (c.longitude - a.longitude)
                #expect(turn > 0, "\(parcel.id) is not convex at corner \(i + 1)")
            }
        }
        #expect(cornerCounts == [4, 5], "quadrilaterals and pentagons")
        // Each parcel lies strictly inside its village's cell, and the cell lookup finds the village.
        for parcel in county.parcels {
            let cell = try #require(county.villageBoxes[parcel.village])
            let box = parcel.geometry.boundingBox
            #expect(box.minLongitude > cell.minLongitude && box.maxLongitude < cell.maxLongitude && box.minLatitude > cell.minLatitude && box.maxLatitude < cell.maxLatitude)
            #expect(county.village(at: parcel.geometry.interiorPoint) == parcel.village)
        }
        #expect(county.villageCells.map(\.village) == county.villages.map(\.code))
        // Village cells tile inside their township's cell.
        for village in county.villages {
            let cell = county.villageBoxes[village.code]!, township = county.townshipBoxes[village.code.township!]!
            #expect(cell.minLongitude >= township.minLongitude && cell.maxLongitude <= township.maxLongitude + 1e-12)
            #expect(cell.minLatitude >= township.minLatitude && cell.maxLatitude <= township.maxLatitude + 1e-12)
        }
    }

    @Test func landClassesAreaChiefsAndFarmlandShare() throws {
        let county = try generate("371312")
        let total = Double(county.parcels.count)
        let cultivated = county.parcels.filter { try! catalog.landClass($0.landClass).isCultivated }
        #expect(Double(cultivated.count) / total > 0.75)
        #expect(Set(cultivated.map(\.landClass)) == ["0101", "0102", "0103"])
        #expect(county.parcels.contains { !$0.landClass.hasPrefix("01") }, "some other classes too")
        let basic = county.parcels.filter(\.isPermanentBasicFarmland)
        #expect((0.6...0.8).contains(Double(basic.count) / total), "about 70% permanent basic farmland, got \(Double(basic.count) / total)")
        #expect(basic.allSatisfy { $0.landClass.hasPrefix("01") }, "basic farmland is cultivated land")
        // areaMu is the polygon's area, and fields are a few mu.
        #expect(county.parcels.allSatisfy { $0.areaMu == $0.geometry.areaMu })
        #expect(county.parcels.allSatisfy { (2...15).contains($0.areaMu) }, "\(county.parcels.map(\.areaMu).min()!)–\(county.parcels.map(\.areaMu).max()!) mu")
        // One chief per village, assigned to its parcels.
        #expect(county.chiefs.map(\.division) == county.villages.map(\.code))
        let chiefOf = Dictionary(uniqueKeysWithValues: county.chiefs.map { ($0.division, $0.id) })
        #expect(county.parcels.allSatisfy { $0.fieldChief == chiefOf[$0.village] })
    }

    @Test func casesAreOpenSpreadAlongTheWorkflowAndLocatedOnTheirParcel() throws {
        let county = try generate("371312")
        let now = CountyGenerator.Configuration().now
        let parcels = Dictionary(uniqueKeysWithValues: county.parcels.map { ($0.id, $0) })
        #expect(county.cases.count == 3 * county.townships.count)
        #expect(county.cases.map(\.id) == county.cases.map(\.id).sorted())
        #expect(Set(county.cases.map(\.status)).count >= 6, "statuses: \(Set(county.cases.map(\.status.rawValue)).sorted())")
        #expect(county.cases.allSatisfy { $0.status.isOpen && $0.round == 1 })
        for record in county.cases {
            try record.validate()
            let parcel = try #require(parcels[record.parcelIDs.first!])
            #expect(parcel.geometry.contains(record.location) && record.village == parcel.village && record.township == parcel.township)
            #expect(record.affectedAreaMu > 0 && record.affectedAreaMu <= parcel.areaMu)
            #expect(record.id.ulidTimestamp == record.discoveredAt)
            #expect(record.discoveredAt <= now && record.discoveredAt > now.adding(hours: -72))
            #expect(record.assignees == [parcel.fieldChief!])
        }
    }

    @Test func boxIsThirtyKilometresOrAsGiven() throws {
        let box = CountyGenerator.defaultBox(for: try DivisionCode("371312"))
        #expect(box.contains(Coordinate(longitude: 118.35, latitude: 35.1)))
        let widthKm = (box.maxLongitude - box.minLongitude) * 111.3 * cos(35.1 * .pi / 180), heightKm = (box.maxLatitude - box.minLatitude) * 110.6
        #expect(abs(widthKm - 30) < 1 && abs(heightKm - 30) < 1)
        let other = CountyGenerator.defaultBox(for: try DivisionCode("330106"))
        #expect(other == CountyGenerator.defaultBox(for: try DivisionCode("330106")) && other != box)
        let given = BoundingBox(minLongitude: 120.0, minLatitude: 30.0, maxLongitude: 120.1, maxLatitude: 30.1)
        let county = try generate("371525", box: given)
        #expect(county.box == given)
        #expect(county.parcels.allSatisfy { $0.geometry.exterior.allSatisfy(given.contains) })
    }

    @Test func anyCountyFileWorks() throws {
        let csv = "code,name,level,parent_code\n330106,西湖区,county,3301\n330106001,北山街道,township,330106\n330106002,西溪街道,township,330106\n"
        let county = CountyGenerator(configuration: .init(seed: 3, villagesPerTownship: 2...2, parcelsPerVillage: 3...3), landClasses: catalog)
            .generate(county: try CountyDivisions(csv: csv))
        #expect(county.villages.map(\.code.rawValue) == ["330106001201", "330106001202", "330106002201", "330106002202"])
        #expect(county.parcels.count == 12 && county.parcels.first?.id.rawValue == "330106001201-0001")
    }

    // MARK: - GeoJSON

    @Test("exported GeoJSON re-imports losslessly")
    func roundTrip() throws {
        var parcels = try generate("371312").parcels
        // Awkward doubles, text that needs escaping, nil optionals.
        parcels[0].areaMu = 1.0 / 3.0
        parcels[0].note = "东沟 \"堵了\" / \\ \n 第二行"
        parcels[1].fieldChief = nil
        parcels[1].areaMu = 0.1 + 0.2
        parcels[2].geometry = Polygon(exterior: [
            Coordinate(longitude: 118.123_456_789_012_34, latitude: 35.000_000_000_000_1), Coordinate(longitude: 118.124, latitude: 35.0),
            Coordinate(longitude: 118.124, latitude: 35.000_3), Coordinate(longitude: 118.123_456_789_012_34, latitude: 35.000_000_000_000_1),
        ])
        let data = GeoJSON.featureCollection(parcels: parcels, synthetic: true)
        let report = try GeoJSON.importParcels(data: data, landClasses: catalog)
        #expect(report.rejected.isEmpty, "\(report.rejected.prefix(3))")
        #expect(report.accepted == parcels)
        #expect(GeoJSON.featureCollection(parcels: report.accepted, synthetic: true) == data)
        // RFC 7946 shape: [lon, lat] positions, the listed properties, sorted keys.
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let feature = try #require((json["features"] as? [[String: Any]])?.first)
        let geometry = try #require(feature["geometry"] as? [String: Any])
        #expect(json["type"] as? String == "FeatureCollection" && feature["type"] as? String == "Feature" && geometry["type"] as? String == "Polygon")
        let first = try #require(((geometry["coordinates"] as? [[[Double]]])?.first)?.first)
        #expect(first == [parcels[0].geometry.exterior[0].longitude, parcels[0].geometry.exterior[0].latitude])
        let properties = try #require(feature["properties"] as? [String: Any])
        #expect(Set(properties.keys).isSuperset(of: ["id", "village", "landClass", "areaMu", "isPermanentBasicFarmland", "fieldChief", "note"]))
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.hasPrefix(#"{"features":[{"geometry":{"coordinates":"#))
    }

    @Test("each bad feature is reported with its code and field; the good ones in the same file are imported whole")
    func perFeatureReport() throws {
        let good = Array(try generate("371312").parcels.prefix(2))
        var features = try #require(JSONSerialization.jsonObject(with: GeoJSON.featureCollection(parcels: good)) as? [String: Any])["features"] as! [[String: Any]]
        func variant(_ change: (inout [String: Any], inout [String: Any]) -> Void) -> [String: Any] {
            var feature = features[0]
            var properties = feature["properties"] as! [String: Any]
            var geometry = feature["geometry"] as! [String: Any]
            properties["id"] = "bad-\(features.count)"
            change(&properties, &geometry)
            feature["properties"] = properties
            feature["geometry"] = geometry
            return feature
        }
        let square: [[Double]] = [[118.3, 35.0], [118.301, 35.0], [118.301, 35.001], [118.3, 35.001], [118.3, 35.0]]
        let shifted = square.map { [$0[0] + 0.01, $0[1]] }
        features.append(variant { p, _ in p["landClass"] = "0199" })                                                    // 2
        features.append(variant { p, _ in p["village"] = "3713120012" })                                                // 3
        features.append(variant { _, g in g = ["type": "LineString", "coordinates": [[118.3, 35.0], [118.4, 35.1]]] })   // 4
        features.append(variant { _, g in g["coordinates"] = [Array(square.dropLast())] })                              // 5 open ring
        features.append(variant { _, g in g["coordinates"] = [[[118.3, 35.0], [118.301, 35.001], [118.301, 35.0], [118.3, 35.001], [118.3, 35.0]]] })  // 6 bow-tie
        features.append(variant { p, _ in p.removeValue(forKey: "village") })                                           // 7
        var duplicate = features[0]
        duplicate["id"] = "dup"
        features.append(duplicate)                                                                                      // 8
        features.append(variant { _, g in g = ["type": "MultiPolygon", "coordinates": [[square], [shifted]]] })          // 9
        features.append(variant { p, _ in p["areaMu"] = "5" })                                                           // 10
        features.append(variant { p, _ in p["id"] = "a/b" })                                                             // 11
        features.append(variant { p, _ in p["village"] = "371312001" })                                                 // 12 a township
        var noProperties = features[0]
        noProperties.removeValue(forKey: "properties")
        features.append(noProperties)                                                                                   // 13
        features.append(variant { p, g in p["id"] = "371312001201-9001"; g = ["type": "MultiPolygon", "coordinates": [[square]]] })  // 14 accepted
        let data = try JSONSerialization.data(withJSONObject: ["type": "FeatureCollection", "features": features])
        let report = try GeoJSON.importParcels(data: data, landClasses: catalog)
        // Nothing half-imported: exactly the good features come back, whole.
        #expect(report.accepted.map(\.id.rawValue) == good.map(\.id.rawValue) + ["371312001201-9001"])
        #expect(Array(report.accepted.prefix(2)) == good)
        #expect(report.accepted.last?.geometry.exterior.count == 5)
        let rejectedIDs = Set(report.rejected.filter { ![8, 13].contains($0.index) }.compactMap(\.id))
        #expect(rejectedIDs.isDisjoint(with: report.accepted.map(\.id.rawValue)))
        let byIndex = Dictionary(uniqueKeysWithValues: report.rejected.map { ($0.index, $0.error) })
        #expect(byIndex.keys.sorted() == Array(2...13))
        func check(_ index: Int, _ code: ValidationError.Code, _ field: String?, _ words: String, sourceLocation: SourceLocation = #_sourceLocation) {
            guard let error = byIndex[index] else { Issue.record("feature \(index) was accepted", sourceLocation: sourceLocation); return }
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
            #expect(error.field == field, "\(error)", sourceLocation: sourceLocation)
            #expect(error.message.contains(words), "\(error.message)", sourceLocation: sourceLocation)
        }
        check(2, .unknownLandClass, "properties.landClass", "0199")
        check(3, .invalidDivisionCode, "properties.village", "10 digits")
        check(4, .invalidGeometry, "geometry.type", "Geometry type LineString is not a Polygon")
        check(5, .invalidGeometry, "geometry.rings[0]", "not closed")
        check(6, .invalidGeometry, "geometry.rings[0]", "self-intersects")
        check(7, .missingField, "properties.village", "village")
        check(8, .invalidIdentifier, "properties.id", "more than once")
        check(9, .invalidGeometry, "geometry", "MultiPolygon of 2 polygons")
        check(10, .invalidValue, "properties.areaMu", "number")
        check(11, .invalidIdentifier, "properties.id", "only letters")
        check(12, .wrongDivisionLevel, "properties.village", "township code")
        check(13, .missingField, "properties", "no properties")
        #expect(report.rejected.first { $0.index == 2 }?.id == "bad-2")
        #expect(report.rejected.first { $0.index == 8 }?.id == good[0].id.rawValue)
        #expect(report.rejected.first { $0.index == 13 }?.id == good[0].id.rawValue, "the feature-level id when properties are missing")
        #expect(report.rejected.map(\.index) == report.rejected.map(\.index).sorted(), "in file order")
    }

    @Test func notAFeatureCollectionIsAClearError() {
        func message(_ text: String) -> String? {
            do { _ = try GeoJSON.importParcels(data: Data(text.utf8), landClasses: catalog); return nil } catch let error as GeoJSON.FileError {
                return error.message
            } catch { return "\(error)" }
        }
        #expect(message("{\"type\":")?.contains("not valid JSON") == true)
        #expect(message("{\"type\":\"Feature\"}")?.contains("not a GeoJSON FeatureCollection") == true)
        #expect(message("{\"type\":\"FeatureCollection\"}")?.contains("\"features\" array") == true)
        #expect(message("[1,2]")?.contains("not a GeoJSON FeatureCollection") == true)
        #expect(message("{\"type\":\"FeatureCollection\",\"features\":[]}") == nil)
    }

    // MARK: - Division files

    func refusal(_ csv: String, sourceLocation: SourceLocation = #_sourceLocation) -> ValidationError? {
        do {
            _ = try CountyDivisions(csv: csv)
            Issue.record("accepted: \(csv)", sourceLocation: sourceLocation)
            return nil
        } catch { return error }
    }

    @Test("the division parser works for any county file and names the bad line")
    func divisionParser() throws {
        let good = "code,name,level,parent_code\n330106,西湖区,county,3301\n330106002,西溪街道,township,330106\n330106001,北山街道,township,330106\n"
        let parsed = try CountyDivisions(csv: good)
        #expect(parsed.county == Division(code: try DivisionCode("330106"), name: "西湖区"))
        #expect(parsed.townships.map(\.name) == ["北山街道", "西溪街道"], "in code order")
        #expect(try CountyDivisions(csv: "\u{FEFF}" + good.replacingOccurrences(of: "\n", with: "\r\n")) == parsed, "BOM and CRLF")

        let badCode = try #require(refusal(good + "33010600X,坏,township,330106\n"))
        #expect(badCode.code == .invalidDivisionCode && badCode.field == "line 5" && badCode.message.hasPrefix("line 5:") && badCode.message.contains("digits only"))
        let wrongParent = try #require(refusal(good + "330107001,外,township,330107\n"))
        #expect(wrongParent.code == .invalidDivisionCode && wrongParent.field == "line 5" && wrongParent.message.contains("does not lie in county 330106"))
        let mismatchedParent = try #require(refusal(good + "330106003,错,township,330107\n"))
        #expect(mismatchedParent.field == "line 5" && mismatchedParent.message.contains("names parent 330107"))
        let duplicate = try #require(refusal(good + "330106001,重复,township,330106\n"))
        #expect(duplicate.code == .invalidDivisionCode && duplicate.field == "line 5" && duplicate.message.contains("appears twice (first on line 4)"))
        let beforeCounty = try #require(refusal("code,name,level,parent_code\n330107001,外,township,330107\n330106,西湖区,county,3301\n"))
        #expect(beforeCounty.field == "line 2" && beforeCounty.message.contains("does not lie in county 330106"))
        let levelMismatch = try #require(refusal(good + "330106,县,township,3301\n"))
        #expect(levelMismatch.code == .invalidDivisionCode && levelMismatch.field == "line 5", "a duplicate is found before the level")
        let township = try #require(refusal(good + "330106004001,村,township,330106\n"))
        #expect(township.code == .wrongDivisionLevel && township.field == "line 5")
        #expect(refusal("code,name,level,parent_code\n330106001,北山街道,township,330106\n")?.code == .missingField)
        #expect(refusal(good + "330106001201,村,village,330106001\n")?.message.contains("not county or township") == true)
        #expect(refusal(good + "330106005,,township,330106\n")?.message.contains("has no name") == true)
        #expect(refusal(good + "330106005,短\n")?.message.contains("expected 4 columns") == true)
        #expect(refusal("330106,西湖区,county,3301\n")?.field == "line 1", "a file without its header")
        #expect(refusal(good + "330206,二县,county,3302\n")?.message.contains("second county row") == true)
        #expect(refusal("code,name,level,parent_code\n330106,西湖区,county,3302\n")?.message.contains("prefecture 3301") == true)
    }

    @Test func bundledCountiesLoadAndOthersAreRefused() throws {
        let guanxian = try ReferenceData.countyFile(code: "371525")
        #expect(guanxian.county.name == "冠县" && guanxian.townships.count == 18)
        #expect(guanxian.townships.allSatisfy { $0.code.parent == guanxian.county.code })
        #expect(try ReferenceData.county("371312") == ReferenceData.countyFile(code: "371312"))
        do {
            _ = try ReferenceData.countyFile(code: "110101")
            Issue.record("an unbundled county loaded")
        } catch let error as ValidationError {
            #expect(error.code == .invalidDivisionCode && error.message.contains("371312, 371525"))
        }
    }
}
