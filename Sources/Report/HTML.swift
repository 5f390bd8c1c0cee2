// report.html: report.md through cmark-gfm in safe mode, charts inlined afterwards, one self-contained page.
import CCmark
import Foundation

extension Report {
    private static let extensionsRegistered: Void = { cmark_gfm_core_extensions_ensure_registered() }()

    /// Markdown to an HTML fragment with cmark-gfm (tables, strikethrough, autolink) in its default safe mode:
    /// raw HTML is omitted and javascript:/data: links are dropped. Never CMARK_OPT_UNSAFE: the audited texts
    /// are untrusted.
    static func renderFragment(_ markdown: String) throws -> String {
        _ = extensionsRegistered
        let options = CMARK_OPT_DEFAULT
        guard let parser = cmark_parser_new(options) else { throw ReportError.render("cmark_parser_new failed") }
        defer { cmark_parser_free(parser) }
        for name in ["table", "strikethrough", "autolink"] {
            guard let ext = cmark_find_syntax_extension(name) else {
                throw ReportError.render("cmark-gfm has no \"\(name)\" extension (install libcmark-gfm-extensions-dev)")
            }
            cmark_parser_attach_syntax_extension(parser, ext)
        }
        var bytes = Array(markdown.utf8)
        bytes.withUnsafeMutableBufferPointer { buf in
            buf.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buf.count) { cmark_parser_feed(parser, $0, buf.count) }
        }
        guard let doc = cmark_parser_finish(parser) else { throw ReportError.render("cmark_parser_finish failed") }
        defer { cmark_node_free(doc) }
        guard let html = cmark_render_html(doc, options, cmark_parser_get_syntax_extensions(parser)) else {
            throw ReportError.render("cmark_render_html failed")
        }
        defer { free(html) }
        return String(cString: html)
    }

    /// A self-contained HTML page: the Markdown rendered by cmark-gfm (safe mode), each `<img>` of one of
    /// `charts` replaced by a `<figure>` holding the chart's SVG, any other image removed, and links that leave
    /// the page unlinked. No scripts, stylesheets, fonts or URLs; a Content-Security-Policy forbids loading
    /// anything should something slip through.
    public static func html(markdown: String, charts: [Chart], title: String) throws -> String {
        var body = try renderFragment(markdown)
        body = inlineImages(body, charts: charts)
            // A chart alone in its paragraph: a <figure> may not sit inside a <p>.
            .replacingOccurrences(of: "<p><figure class=\"chart\">", with: "<figure class=\"chart\">")
            .replacingOccurrences(of: "</figure></p>", with: "</figure>")
        body = unlinkExternal(body)
        body = markVerdict(body)
        return """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src 'none'">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(Escape.xml(title))</title>
        <style>
        \(css)
        </style>
        </head>
        <body>
        <main>
        \(body)</main>
        </body>
        </html>

        """
    }

    static let css = """
    body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1b1b1b; background: #ffffff; line-height: 1.5; margin: 0; }
    main { max-width: 1100px; margin: 0 auto; padding: 24px; }
    h1 { font-size: 1.8em; border-bottom: 2px solid #333333; padding-bottom: 6px; }
    h2 { font-size: 1.35em; margin-top: 2em; border-bottom: 1px solid #cccccc; padding-bottom: 4px; }
    table { border-collapse: collapse; margin: 12px 0 20px; font-size: 0.92em; display: block; overflow-x: auto; }
    th, td { border: 1px solid #c8c8c8; padding: 5px 9px; text-align: left; vertical-align: top; }
    th { background: #f0f0f0; }
    tr:nth-child(even) td { background: #fafafa; }
    code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.9em; }
    td code { word-break: break-all; }
    pre { background: #f6f6f6; border: 1px solid #dddddd; padding: 12px; overflow-x: auto; }
    blockquote { margin: 12px 0; padding: 8px 14px; border-left: 4px solid #c77c00; background: #fff6e5; }
    .verdict { padding: 14px 18px; border-radius: 6px; border: 2px solid; font-size: 1.08em; }
    .verdict-pass { background: #e8f6ec; border-color: #2e8540; }
    .verdict-breach { background: #fdecea; border-color: #c62828; }
    .verdict-incomplete { background: #fff6e5; border-color: #c77c00; }
    figure.chart { margin: 16px 0; }
    figure.chart svg { max-width: 100%; height: auto; border: 1px solid #e0e0e0; }
    figcaption { font-size: 0.9em; color: #555555; }
    .removed-image { color: #8a1c1c; font-style: italic; }
    """

    /// Attribute values of one tag as cmark emits it (`name="value"`, values already HTML-escaped).
    static func attributes(_ tag: Substring) -> [String: String] {
        var out: [String: String] = [:]
        var rest = tag[...]
        while let eq = rest.range(of: "=\"") {
            let before = rest[..<eq.lowerBound]
            let name = before.split(whereSeparator: { $0 == " " || $0 == "<" }).last.map(String.init) ?? ""
            let afterQuote = rest[eq.upperBound...]
            guard let close = afterQuote.firstIndex(of: "\"") else { break }
            out[name.lowercased()] = String(afterQuote[..<close])
            rest = afterQuote[afterQuote.index(after: close)...]
        }
        return out
    }

    static func unescapeHTML(_ s: String) -> String {
        s.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&amp;", with: "&")
    }

    /// Replaces each `<img ...>` tag: ours become inline figures, any other is removed (it would be a request).
    static func inlineImages(_ html: String, charts: [Chart]) -> String {
        let byName = Dictionary(charts.map { ($0.fileName, $0) }, uniquingKeysWith: { a, _ in a })
        var out = ""
        var rest = html[...]
        while let start = rest.range(of: "<img", options: .caseInsensitive) {
            out += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: ">") else { rest = rest[rest.endIndex...]; break }
            let tag = rest[start.lowerBound...end]
            let attrs = attributes(tag)
            let alt = Escape.xml(unescapeHTML(attrs["alt"] ?? ""))
            if let src = attrs["src"], let chart = byName[unescapeHTML(src)] {
                let svg = chart.svg.replacingOccurrences(of: " xmlns=\"http://www.w3.org/2000/svg\"", with: "")
                out += "<figure class=\"chart\">\n\(svg)<figcaption>\(alt)</figcaption>\n</figure>"
            } else {
                out += "<span class=\"removed-image\">[image not embedded: \(alt)]</span>"
            }
            rest = rest[rest.index(after: end)...]
        }
        return out + rest
    }

    /// A link whose target is not a same-page anchor becomes a `<span>`: the report links nowhere. (cmark never
    /// nests links, so each such `<a ...>` is closed by the next `</a>`.)
    static func unlinkExternal(_ html: String) -> String {
        var out = ""
        var rest = html[...]
        while let start = rest.range(of: "<a ") {
            out += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: ">") else { rest = rest[rest.endIndex...]; break }
            let tag = rest[start.lowerBound...end]
            rest = rest[rest.index(after: end)...]
            if let href = attributes(tag)["href"], href.hasPrefix("#") { out += tag; continue }
            out += "<span class=\"unlinked\">"
            if let close = rest.range(of: "</a>") {
                out += rest[..<close.lowerBound] + "</span>"
                rest = rest[close.upperBound...]
            }
        }
        return out + rest
    }

    /// Gives the verdict paragraph (the first bold PASS/BREACH/INCOMPLETE paragraph) its banner class.
    static func markVerdict(_ html: String) -> String {
        for (word, cls) in [("PASS", "pass"), ("BREACH", "breach"), ("INCOMPLETE", "incomplete")] {
            if let r = html.range(of: "<p><strong>\(word)") {
                let candidates = ["<p><strong>PASS", "<p><strong>BREACH", "<p><strong>INCOMPLETE"].compactMap { html.range(of: $0)?.lowerBound }
                guard r.lowerBound == candidates.min() else { continue }
                return html.replacingCharacters(in: r, with: "<p class=\"verdict verdict-\(cls)\"><strong>\(word)")
            }
        }
        return html
    }
}
