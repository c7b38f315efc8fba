package dev.rq.tables;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The {@code variant} column of a token table: which deterministic view of an image a row
 * encodes. Ids are stable across schema versions; new views get new ids.
 */
public enum Variant {
    /** Evaluation transform: shorter side resized to S, center crop S×S. */
    CENTER(0, "center", "shorter side resized to S (Pillow-exact bilinear, antialiased), center crop SxS"),
    /** The center crop mirrored left-right (columns reversed after cropping). */
    HFLIP(1, "hflip", "the center crop (variant 0) mirrored left-right: column x becomes S-1-x");

    /** Value stored in the {@code variant} column. */
    public final int id;
    /** Name used on the command line and in the manifest. */
    public final String label;
    /** One-line meaning recorded in the manifest. */
    public final String meaning;

    Variant(int id, String label, String meaning) {
        this.id = id;
        this.label = label;
        this.meaning = meaning;
    }

    /** @return the variant with this id */
    public static Variant ofId(int id) {
        for (Variant v : values()) {
            if (v.id == id) {
                return v;
            }
        }
        throw new IllegalArgumentException("unknown variant id " + id);
    }

    /** Parses {@code center,hflip} (names or ids, comma separated, no duplicates). */
    public static List<Variant> parseList(String spec) {
        List<Variant> out = new ArrayList<>();
        for (String s : spec.split(",")) {
            String t = s.trim().toLowerCase(Locale.ROOT);
            if (t.isEmpty()) {
                continue;
            }
            Variant found = null;
            for (Variant v : values()) {
                if (v.label.equals(t) || Integer.toString(v.id).equals(t)) {
                    found = v;
                }
            }
            if (found == null) {
                throw new IllegalArgumentException("unknown variant '" + s.trim() + "' (known: center, hflip)");
            }
            if (out.contains(found)) {
                throw new IllegalArgumentException("variant " + found.label + " given twice");
            }
            out.add(found);
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("no variants given");
        }
        return out;
    }

    /** @return {"0": "center: …", …} for the given variants, in id order */
    public static Map<String, String> meanings(List<Variant> variants) {
        Map<String, String> m = new LinkedHashMap<>();
        variants.stream().sorted().forEach(v -> m.put(Integer.toString(v.id), v.label + ": " + v.meaning));
        return m;
    }
}
