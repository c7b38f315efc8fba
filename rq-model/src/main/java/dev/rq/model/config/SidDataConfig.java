package dev.rq.model.config;

import java.io.Serializable;

/**
 * Columns of an item table ({@code data} section of {@code conf/sid/*.yaml}): Parquet with an id
 * column (integer or string), an embedding column ({@code array<float>}, {@code array<double>} or
 * a fixed-size list, which Parquet stores as a list) and optionally a label column (integer or
 * string; used only by the report's prefix purity).
 *
 * @param idColumn item id column
 * @param embeddingColumn embedding column
 * @param labelColumn label column, or empty for none
 */
public record SidDataConfig(String idColumn, String embeddingColumn, String labelColumn) implements Serializable {

    public SidDataConfig {
        idColumn = idColumn == null ? "item_id" : idColumn;
        embeddingColumn = embeddingColumn == null ? "embedding" : embeddingColumn;
        labelColumn = labelColumn == null ? "" : labelColumn;
        ConfigException.require(!idColumn.isBlank(), "data.id_column", "must not be empty");
        ConfigException.require(!embeddingColumn.isBlank(), "data.embedding_column", "must not be empty");
        ConfigException.require(!idColumn.equals(embeddingColumn), "data.embedding_column",
                "must differ from data.id_column (%s)", idColumn);
    }

    /** @return the default columns (item_id, embedding, no label) */
    public static SidDataConfig defaults() {
        return new SidDataConfig(null, null, null);
    }

    /** @return whether a label column is configured */
    public boolean hasLabel() {
        return !labelColumn.isEmpty();
    }
}
