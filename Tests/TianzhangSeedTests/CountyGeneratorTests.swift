import Foundation
import Testing
import TianzhangDomain
import TianzhangReference
@testable import TianzhangSeed

@Suite("County generator and GeoJSON")
struct CountyGeneratorTests {
    let catalog = try! ReferenceData.landClasses()

    func generate(_ county: String, seed: UInt64 = 1) throws -> GeneratedCounty {
        var configuration = CountyGenerator.Configuration(seed: seed)
        configuration.parcelsPerVillage = 6...9
        return CountyGenerator(configuration: configuration, landClasses: catalog).generate(try ReferenceData.county(county))
    }

    /// The township rows of the real file, read as text (not through the parser under test).
    func realTownshipCodes(_ file: String) throws -> Set<String> {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/TianzhangReference/Resources/\(file)")
        let lines = try String(contentsOf: url, encoding: .utf8).split(whereSeparator: \.isNewline)
        return Set(lines.filter { $0.contains(",township,") }.map { String($0.split(separator: ",")[0]) })
    }

    @Test("371312 yields every township of the real list", arguments: [("371312", "divisions-371312-hedong.csv"), ("371525", "divisions-371525-guanxian.csv")])
    func everyRealTownship(county: String, file: String) throws {
        let generated = try generate(county)
        let expected = try realTownshipCodes(file)
        #expect(expected.count >= 11)
        #expect(Set(generated.townships.map(\.code.rawValue)) == expected)
        #expect(Set(generated.villages.map { $0.code.township!.rawValue }) == expected, "every township has villages")
        #expect(generated.villages.allSatisfy { $0.synthetic })
        #expect(generated.townships.allSatisfy { !$0.synthetic })
    }

    @Test func deterministic() throws {
        let a = try generate("371312", seed: 7), b = try generate("371312", seed: 7), c = try generate("371312", seed: 8)
        #expect(GeoJSON.featureCollection(parcels: a.parcels) == GeoJSON.featureCollection(parcels: b.parcels))
        #expect(a.cases == b.cases)
        #expect(a.parcels != c.parcels)
    }

    @Test func parcelsAreValidAndNeverOverlap() throws {
        let county = try generate("371312")
        #expect(county.parcels.count > 300)
        for parcel in county.parcels { try parcel.validate(landClasses: catalog) }
        let byVillage = Dictionary(grouping: county.parcels, by: \.village)
        for (_, parcels) in byVillage {
            for i in parcels.indices {
                for j in parcels.indices where j > i { #expect(!parcels[i].geometry.overlaps(parcels[j].geometry), "\(parcels[i].id) overlaps \(parcels[j].id)") }
            }
        }
        // Parcels lie in their village's cell, and the cell lookup finds it.
        for parcel in county.parcels.prefix(50) { #expect(county.village(at: parcel.geometry.interiorPoint) == parcel.village) }
        let cultivated = county.parcels.filter { $0.landClass.hasPrefix("01") }.count
        #expect(Double(cultivated) / Double(county.parcels.count) > 0.7)
        #expect(county.cases.count == 3 * county.townships.count)
        for record in county.cases { try record.validate() }
    }

    @Test("exported GeoJSON re-imports losslessly")
    func roundTrip() throws {
        let county = try generate("371312")
        let data = GeoJSON.featureCollection(parcels: county.parcels, synthetic: true)
        let report = try GeoJSON.importParcels(data: data, landClasses: catalog)
        #expect(report.rejected.isEmpty)
        #expect(report.accepted == county.parcels)
        #expect(GeoJSON.featureCollection(parcels: report.accepted, synthetic: true) == data)
    }

    @Test("a bad feature is reported with its reason; the good ones in the same file are imported whole")
    func perFeatureReport() throws {
        let good = try generate("371312").parcels.prefix(2)
        var features = try #require(JSONSerialization.jsonObject(with: GeoJSON.featureCollection(parcels: Array(good))) as? [String: Any])["features"] as! [[String: Any]]
        func variant(_ change: (inout [String: Any], inout [String: Any]) -> Void) -> [String: Any] {
            var feature = features[0]
            var properties = feature["properties"] as! [String: Any]
            var geometry = feature["geometry"] as! [String: Any]
            change(&properties, &geometry)
            properties["id"] = "bad-\(features.count)"
            feature["properties"] = properties
            feature["geometry"] = geometry
            return feature
        }
        let square: [[Double]] = [[118.3, 35.0], [118.301, 35.0], [118.301, 35.001], [118.3, 35.001], [118.3, 35.0]]
        features.append(variant { p, _ in p["landClass"] = "0199" })                                        // 2
        features.append(variant { p, _ in p["village"] = "3713120012" })                                    // 3
        features.append(variant { _, g in g = ["type": "LineString", "coordinates": [[118.3, 35.0], [118.4, 35.1]]] })  // 4
        features.append(variant { _, g in g["coordinates"] = [Array(square.dropLast())] })                   // 5 open ring
        features.append(variant { _, g in g["coordinates"] = [[[118.3, 35.0], [118.301, 35.001], [118.301, 35.0], [118.3, 35.001], [118.3, 35.0]]] })  // 6 bow-tie
        features.append(variant { p, _ in p.removeValue(forKey: "village") })                               // 7
        var duplicate = features[0]
        duplicate["id"] = "dup"
        features.append(duplicate)                                                                           // 8
        let data = try JSONSerialization.data(withJSONObject: ["type": "FeatureCollection", "features": features])
        let report = try GeoJSON.importParcels(data: data, landClasses: catalog)
        #expect(report.accepted.map(\.id) == good.map(\.id))
        let byIndex = Dictionary(uniqueKeysWithValues: report.rejected.map { ($0.index, $0.error) })
        #expect(byIndex.keys.sorted() == [2, 3, 4, 5, 6, 7, 8])
        #expect(byIndex[2]?.code == .unknownLandClass && byIndex[2]?.field == "properties.landClass")
        #expect(byIndex[3]?.code == .invalidDivisionCode && byIndex[3]?.field == "properties.village")
        #expect(byIndex[4]?.code == .invalidGeometry && byIndex[4]?.message.contains("LineString is not a Polygon") == true)
        #expect(byIndex[5]?.code == .invalidGeometry && byIndex[5]?.message.contains("not closed") == true && byIndex[5]?.field == "geometry.rings[0]")
        #expect(byIndex[6]?.code == .invalidGeometry && byIndex[6]?.message.contains("self-intersects") == true)
        #expect(byIndex[7]?.code == .missingField && byIndex[7]?.field == "properties.village")
        #expect(byIndex[8]?.code == .invalidIdentifier && byIndex[8]?.message.contains("more than once") == true)
    }

    @Test func notAFeatureCollection() {
        #expect(throws: GeoJSON.FileError.self) { _ = try GeoJSON.importParcels(data: Data("{\"type\":".utf8), landClasses: catalog) }
        #expect(throws: GeoJSON.FileError.self) { _ = try GeoJSON.importParcels(data: Data("{\"type\":\"Feature\"}".utf8), landClasses: catalog) }
    }

    @Test("the division parser works for any county file and names the bad line")
    func divisionParser() throws {
        let good = "code,name,level,parent_code\n330106,西湖区,county,3301\n330106001,北山街道,township,330106\n"
        let parsed = try CountyDivisions(csv: good)
        #expect(parsed.county.code.rawValue == "330106" && parsed.townships.map(\.name) == ["北山街道"])
        func refuses(_ csv: String, _ words: String) {
            do { _ = try CountyDivisions(csv: csv); Issue.record("accepted: \(csv)") } catch {
                #expect(error.message.contains(words), "\(error.message)")
            }
        }
        refuses(good + "33010600X,坏,township,330106\n", "line 4")
        refuses(good + "330107001,外,township,330107\n", "line 4")
        refuses(good + "330106001,重复,township,330106\n", "appears twice")
        refuses("code,name,level,parent_code\n330106001,北山街道,township,330106\n", "no county row")
        refuses(good + "330106001201,村,village,330106001\n", "not county or township")
    }
}
