/** Small utilities: the checkpointable random generator, hashing. */
package dev.rq.model.util;
