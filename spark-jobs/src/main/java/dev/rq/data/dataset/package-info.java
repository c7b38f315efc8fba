/**
 * The canonical image dataset: Hugging Face–layout Parquet shards ({@code image:
 * struct<bytes,path>}, {@code label: int64}) in split folders with a {@code _dataset_info.json}
 * sidecar that is written last and that readers require. See {@code docs/data.md}.
 */
package dev.rq.data.dataset;
