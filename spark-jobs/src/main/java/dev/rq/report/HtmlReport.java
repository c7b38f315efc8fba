package dev.rq.report;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

/**
 * A small self-contained HTML report (no scripts, no external resources): headings, paragraphs,
 * key/value and row tables, preformatted text and images referenced by relative path (PNGs written
 * next to the report). All text is HTML-escaped.
 *
 * <pre>{@code
 * String html = HtmlReport.titled("rq decode")
 *         .paragraph("64 images from " + uri)
 *         .keyValues(Map.of("checkpoint", ckpt))
 *         .image("grid.png", "reconstructions")
 *         .toHtml();
 * }</pre>
 */
public final class HtmlReport {

    private final String title;
    private final StringBuilder body = new StringBuilder();

    private HtmlReport(String title) {
        this.title = title;
    }

    /** A report with a title (also the first heading). */
    public static HtmlReport titled(String title) {
        HtmlReport r = new HtmlReport(title);
        r.body.append("<h1>").append(escape(title)).append("</h1>\n");
        return r;
    }

    /** Adds a section heading. */
    public HtmlReport heading(String text) {
        body.append("<h2>").append(escape(text)).append("</h2>\n");
        return this;
    }

    /** Adds a paragraph. */
    public HtmlReport paragraph(String text) {
        body.append("<p>").append(escape(text)).append("</p>\n");
        return this;
    }

    /**
     * Adds a paragraph with a link to another page of the same output.
     *
     * @param relativePath path relative to the report (must not be absolute or contain "..")
     * @param text the link text
     * @param after plain text after the link (may be empty)
     */
    public HtmlReport link(String relativePath, String text, String after) {
        checkRelative(relativePath);
        body.append("<p><a href=\"").append(escape(relativePath)).append("\">").append(escape(text)).append("</a>")
                .append(escape(after)).append("</p>\n");
        return this;
    }

    /** Adds preformatted text (JSON, logs). */
    public HtmlReport pre(String text) {
        body.append("<pre>").append(escape(text)).append("</pre>\n");
        return this;
    }

    /** Adds a two-column table of keys and values (in map order). */
    public HtmlReport keyValues(Map<String, ?> kv) {
        body.append("<table class=\"kv\">\n");
        kv.forEach((k, v) -> body.append("<tr><th>").append(escape(k)).append("</th><td>")
                .append(escape(String.valueOf(v))).append("</td></tr>\n"));
        body.append("</table>\n");
        return this;
    }

    /** Adds a table with a header row. */
    public HtmlReport table(List<String> header, List<? extends List<?>> rows) {
        body.append("<table>\n<tr>");
        header.forEach(h -> body.append("<th>").append(escape(h)).append("</th>"));
        body.append("</tr>\n");
        for (List<?> r : rows) {
            body.append("<tr>");
            r.forEach(c -> body.append("<td>").append(escape(String.valueOf(c))).append("</td>"));
            body.append("</tr>\n");
        }
        body.append("</table>\n");
        return this;
    }

    /**
     * Adds an image.
     *
     * @param relativePath path relative to the report (must not be absolute or contain "..")
     * @param caption caption and alt text
     */
    public HtmlReport image(String relativePath, String caption) {
        checkRelative(relativePath);
        body.append("<figure><img src=\"").append(escape(relativePath)).append("\" alt=\"").append(escape(caption))
                .append("\"><figcaption>").append(escape(caption)).append("</figcaption></figure>\n");
        return this;
    }

    private static void checkRelative(String relativePath) {
        if (relativePath.startsWith("/") || relativePath.contains("..") || relativePath.contains(":")) {
            throw new IllegalArgumentException("path must be relative: " + relativePath);
        }
    }

    /** @return the document */
    public String toHtml() {
        return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" + escape(title)
                + "</title>\n<style>\nbody{font-family:sans-serif;margin:2em;max-width:1100px}"
                + "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 8px;"
                + "text-align:left;vertical-align:top}table.kv th{background:#f4f4f4}"
                + "img{image-rendering:pixelated;max-width:100%}pre{background:#f8f8f8;padding:1em;overflow:auto}"
                + "\n</style>\n</head>\n<body>\n" + body + "</body>\n</html>\n";
    }

    /** Writes the document as UTF-8. */
    public void write(OutputStream out) throws IOException {
        out.write(toHtml().getBytes(StandardCharsets.UTF_8));
    }

    /** @return {@code s} with {@code & < > " '} escaped */
    public static String escape(String s) {
        StringBuilder b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '&' -> b.append("&amp;");
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '"' -> b.append("&quot;");
                case '\'' -> b.append("&#39;");
                default -> b.append(c);
            }
        }
        return b.toString();
    }
}
