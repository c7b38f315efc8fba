package dev.rq.data;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rq.data.image.RejectReason;
import dev.rq.data.ingest.SourceRecord;
import dev.rq.data.ingest.WebDatasetReader;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.Test;

/**
 * {@link WebDatasetReader} on a shard cut off at every byte position: no exception, every sample
 * whose header was read is accounted for exactly once, complete samples before the cut are kept.
 */
class WebDatasetReaderTest {

    private static final int RECORD = 512;
    private static final String SHARD = "shard-000.tar";

    /** One tar member and where it lies in the archive. */
    private record Member(String key, String name, byte[] data, int header, int dataEnd) {}

    @Test
    void aShardCutAtAnyByteKeepsCompleteSamplesAndAccountsForEveryKey() throws Exception {
        Random rnd = new Random(3);
        List<Member> members = new ArrayList<>();
        int[] imageSizes = {700, 1024, 1, 1500};
        int offset = 0;
        for (int s = 0; s < imageSizes.length; s++) {
            String key = String.format("s%03d", s);
            byte[] jpg = new byte[imageSizes[s]];
            rnd.nextBytes(jpg);
            for (Object[] m : new Object[][] {{"jpg", jpg}, {"cls", Integer.toString(s).getBytes(StandardCharsets.UTF_8)}}) {
                byte[] d = (byte[]) m[1];
                members.add(new Member(key, key + "." + m[0], d, offset, offset + RECORD + d.length));
                offset += RECORD + (d.length + RECORD - 1) / RECORD * RECORD;
            }
        }
        int endRecords = offset;
        byte[] tar = tar(members);
        assertThat(tar.length).isGreaterThanOrEqualTo(endRecords + 2 * RECORD);

        for (int c = 0; c <= tar.length; c++) {
            final int cut = c;
            List<SourceRecord> got = read(Arrays.copyOf(tar, cut));
            String at = "cut at byte " + cut + ": " + got.stream().map(r -> r.sortKey() + "=" + (r.preReject() == null
                    ? "ok" : r.preReject() + " " + r.detail())).toList();

            // the samples whose first header was read whole, and the last of them
            List<String> started = new ArrayList<>();
            for (Member m : members) {
                if (m.header() + RECORD <= cut && !started.contains(m.key())) {
                    started.add(m.key());
                }
            }
            List<String> accepted = got.stream().filter(r -> r.preReject() == null).map(r -> key(r)).toList();
            List<String> rejected = got.stream().filter(r -> r.preReject() != null && !r.sortKey().endsWith("~rest"))
                    .map(r -> key(r)).toList();
            // every sample whose key was read: exactly once, accepted or rejected
            List<String> accounted = new ArrayList<>(accepted);
            accounted.addAll(rejected);
            assertThat(accounted).as(at).containsExactlyInAnyOrderElementsOf(started);
            assertThat(got).as(at).allMatch(r -> r.preReject() == null || r.preReject() == RejectReason.READ_ERROR);

            if (cut >= endRecords + RECORD) { // the end-of-archive record is there: an intact shard
                assertThat(accepted).as(at).containsExactly("s000", "s001", "s002", "s003");
                assertThat(got).as(at).hasSize(4);
                continue;
            }
            assertThat(got).as(at + ": the damage is reported").anyMatch(r -> r.preReject() != null);
            // every sample followed by the header of another one is complete: kept
            Set<String> expected = new HashSet<>(started.isEmpty() ? List.of() : started.subList(0, started.size() - 1));
            // the last one is kept when all its members were read and it is not the shard's first sample
            if (!started.isEmpty()) {
                String last = started.get(started.size() - 1);
                boolean whole = members.stream().filter(m -> m.key().equals(last)).allMatch(m -> m.dataEnd() <= cut)
                        && members.stream().filter(m -> m.key().equals(last)).allMatch(m -> m.header() + RECORD <= cut);
                if (whole && !last.equals("s000")) {
                    expected.add(last);
                }
            }
            assertThat(new TreeSet<>(accepted)).as(at).isEqualTo(new TreeSet<>(expected));
            for (SourceRecord r : got) {
                if (r.preReject() == null) {
                    int label = Integer.parseInt(key(r).substring(1));
                    assertThat(r.label()).as(at).isEqualTo(label);
                    assertThat(r.bytes()).as(at).isEqualTo(members.get(2 * label).data());
                }
            }
        }
    }

    @Test
    void aMemberCutShortRejectsItsSampleNamingTheMemberAndKeepsTheOneBefore() throws Exception {
        List<Member> members = new ArrayList<>();
        for (String k : List.of("a", "b", "c")) {
            members.add(new Member(k, k + ".jpg", new byte[3000], 0, 0));
            members.add(new Member(k, k + ".cls", "1".getBytes(StandardCharsets.UTF_8), 0, 0));
        }
        byte[] tar = tar(members);
        // b.jpg's header is at 4608 (a.jpg: 512 + 3072, a.cls: 512 + 512); cut inside its data
        List<SourceRecord> got = read(Arrays.copyOf(tar, 6000));
        assertThat(got).hasSize(2);
        assertThat(got.get(0).sortKey()).isEqualTo(SHARD + "/a");
        assertThat(got.get(0).preReject()).isNull();
        assertThat(got.get(0).label()).isEqualTo(1);
        assertThat(got.get(1).sortKey()).isEqualTo(SHARD + "/b");
        assertThat(got.get(1).preReject()).isEqualTo(RejectReason.READ_ERROR);
        assertThat(got.get(1).detail()).contains("b.jpg").contains("3000 bytes");
    }

    private static String key(SourceRecord r) {
        return r.sortKey().substring(SHARD.length() + 1);
    }

    private static List<SourceRecord> read(byte[] bytes) throws Exception {
        List<SourceRecord> out = new ArrayList<>();
        try (WebDatasetReader r = new WebDatasetReader(new ByteArrayInputStream(bytes), SHARD)) {
            r.forEachRemaining(out::add);
        }
        return out;
    }

    private static byte[] tar(List<Member> members) throws Exception {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (TarArchiveOutputStream tar = new TarArchiveOutputStream(bos)) {
            for (Member m : members) {
                TarArchiveEntry e = new TarArchiveEntry(m.name());
                e.setSize(m.data().length);
                tar.putArchiveEntry(e);
                tar.write(m.data());
                tar.closeArchiveEntry();
            }
        }
        return bos.toByteArray();
    }
}
