// Well-formedness checks with Foundation's XMLParser (FoundationXML on Linux).
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Parses XML and collects each element's name and attributes; throws when the document is not well-formed.
final class XMLDocumentCheck: NSObject, XMLParserDelegate {
    struct NotWellFormed: Error { let reason: String }
    private(set) var elements: [(name: String, attributes: [String: String])] = []

    static func parse(_ text: String) throws -> XMLDocumentCheck {
        let check = XMLDocumentCheck()
        let parser = XMLParser(data: Data(text.utf8))
        parser.delegate = check
        guard parser.parse() else {
            throw NotWellFormed(reason: parser.parserError.map { "\($0)" } ?? "unknown error")
        }
        return check
    }

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
        elements.append((elementName, attributeDict))
    }

    func count(_ name: String) -> Int { elements.filter { $0.name == name }.count }
}
