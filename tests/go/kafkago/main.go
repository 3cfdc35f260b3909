// kafkago-check: segmentio/kafka-go against a broker, one scenario per run,
// results as JSON lines on stdout ("event" names each line), like
// tests/go/sarama. A failed step prints {"event":"error","step":...,
// "error":...} and exits 1.
//
//	kafkago-check -brokers 127.0.0.1:9092 -topic t produce
//
// Scenarios:
//
//	produce  a Writer (RequiredAcks all, Hash balancer) writes -n keyed
//	         records with a header to -topic; "written" once they are acked
//	consume  a partition Reader per partition of -topic from the first
//	         offset to the last (ListOffsets); one "record" line each
//	group    two group Readers join -group on -topic; once DescribeGroups
//	         shows both holding partitions, -n records are written; the
//	         readers FetchMessage and CommitMessages each; the group is
//	         described while both are in it; after they close, OffsetFetch
//	         reads the committed offsets back and ListGroups names the group
//	admin    Client: ApiVersions, CreateTopics (and again: already exists),
//	         Metadata, CreatePartitions, DescribeConfigs, AlterConfigs,
//	         IncrementalAlterConfigs, ListOffsets, DeleteTopics
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

var (
	brokers  = flag.String("brokers", "127.0.0.1:9092", "bootstrap address")
	topic    = flag.String("topic", "kafkago-check", "topic")
	group    = flag.String("group", "kafkago-check-group", "consumer group")
	n        = flag.Int("n", 300, "records to write")
	deadline = flag.Duration("timeout", 60*time.Second, "bound on the whole scenario")
)

var (
	out   = json.NewEncoder(os.Stdout)
	outMu sync.Mutex
)

func emit(event string, kv map[string]any) {
	if kv == nil {
		kv = map[string]any{}
	}
	kv["event"] = event
	outMu.Lock()
	defer outMu.Unlock()
	_ = out.Encode(kv)
}

func fail(step string, err error) {
	emit("error", map[string]any{"step": step, "error": errString(err)})
	os.Exit(1)
}

func errString(err error) any {
	if err == nil {
		return nil
	}
	return err.Error()
}

var client *kafka.Client

func main() {
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: kafkago-check [flags] produce|consume|group|admin")
		os.Exit(2)
	}
	time.AfterFunc(*deadline, func() { fail("timeout", fmt.Errorf("scenario not done after %s", *deadline)) })
	// kafka-go's Transport answers Metadata requests from its cache
	// (MetadataTTL, 6 s by default): a short TTL so that a topic's new
	// partitions show within the wait below.
	client = &kafka.Client{Addr: kafka.TCP(*brokers), Timeout: 20 * time.Second,
		Transport: &kafka.Transport{MetadataTTL: 200 * time.Millisecond}}
	ctx := context.Background()
	switch flag.Arg(0) {
	case "produce":
		produce(ctx, *n)
	case "consume":
		consume(ctx)
	case "group":
		runGroup(ctx)
	case "admin":
		admin(ctx)
	default:
		fail("usage", fmt.Errorf("unknown scenario %q", flag.Arg(0)))
	}
	emit("done", nil)
}

func produce(ctx context.Context, count int) {
	w := &kafka.Writer{
		Addr:         kafka.TCP(*brokers),
		Topic:        *topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    100,
		BatchTimeout: 10 * time.Millisecond,
		MaxAttempts:  10,
		WriteTimeout: 20 * time.Second,
	}
	defer w.Close()
	var msgs []kafka.Message
	for i := 0; i < count; i++ {
		msgs = append(msgs, kafka.Message{
			Key:     []byte(fmt.Sprintf("key-%d", i%17)),
			Value:   []byte(fmt.Sprintf("value-%d", i)),
			Headers: []kafka.Header{{Key: "i", Value: []byte(strconv.Itoa(i))}},
		})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		fail("WriteMessages", err)
	}
	st := w.Stats()
	emit("written", map[string]any{"messages": count, "writes": st.Writes, "errors": st.Errors})
}

func partitions(ctx context.Context) []int {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{*topic}})
	if err != nil {
		fail("Metadata", err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil {
		fail("Metadata", fmt.Errorf("topic %s: %+v", *topic, md.Topics))
	}
	var ps []int
	for _, p := range md.Topics[0].Partitions {
		ps = append(ps, p.ID)
	}
	sort.Ints(ps)
	return ps
}

func listOffsets(ctx context.Context, ps []int) map[int]kafka.PartitionOffsets {
	var reqs []kafka.OffsetRequest
	for _, p := range ps {
		reqs = append(reqs, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	r, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{*topic: reqs}})
	if err != nil {
		fail("ListOffsets", err)
	}
	res := map[int]kafka.PartitionOffsets{}
	for _, po := range r.Topics[*topic] {
		if po.Error != nil {
			fail("ListOffsets", po.Error)
		}
		res[po.Partition] = po
	}
	return res
}

func consume(ctx context.Context) {
	ps := partitions(ctx)
	offs := listOffsets(ctx, ps)
	for _, p := range ps {
		lo, hi := offs[p].FirstOffset, offs[p].LastOffset
		emit("watermarks", map[string]any{"partition": p, "low": lo, "high": hi})
		if hi == lo {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{*brokers}, Topic: *topic, Partition: p,
			MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 500 * time.Millisecond})
		if err := r.SetOffset(kafka.FirstOffset); err != nil {
			fail("SetOffset", err)
		}
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				fail("ReadMessage", err)
			}
			hdr := map[string]string{}
			for _, h := range m.Headers {
				hdr[h.Key] = string(h.Value)
			}
			emit("record", map[string]any{"partition": m.Partition, "offset": m.Offset,
				"key": string(m.Key), "value": string(m.Value), "headers": hdr})
			if m.Offset+1 >= hi {
				break
			}
		}
		r.Close()
	}
}

func describeGroup(ctx context.Context, step string) kafka.DescribeGroupsResponseGroup {
	d, err := client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{*group}})
	if err != nil {
		fail(step, err)
	}
	if len(d.Groups) != 1 {
		fail(step, fmt.Errorf("%d groups in the answer", len(d.Groups)))
	}
	return d.Groups[0]
}

func assignment(m kafka.DescribeGroupsResponseMember) []int {
	var ps []int
	for _, t := range m.MemberAssignments.Topics {
		if t.Topic == *topic {
			ps = append(ps, t.Partitions...)
		}
	}
	sort.Ints(ps)
	return ps
}

func runGroup(ctx context.Context) {
	ps := partitions(ctx)
	var readers []*kafka.Reader
	for i := 0; i < 2; i++ {
		readers = append(readers, kafka.NewReader(kafka.ReaderConfig{
			Brokers: []string{*brokers}, Topic: *topic, GroupID: *group,
			MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 200 * time.Millisecond,
			StartOffset: kafka.FirstOffset, CommitInterval: 0, // synchronous commits
			HeartbeatInterval: time.Second, SessionTimeout: 10 * time.Second,
			RebalanceTimeout: 10 * time.Second, JoinGroupBackoff: 200 * time.Millisecond,
		}))
	}
	// The group readers join in the background; wait for a generation in
	// which both hold partitions of the topic.
	for {
		g := describeGroup(ctx, "DescribeGroups")
		held := 0
		total := 0
		for _, m := range g.Members {
			if a := assignment(m); len(a) > 0 {
				held++
				total += len(a)
			}
		}
		if g.Error == nil && g.GroupState == "Stable" && held == 2 && total == len(ps) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	emit("stable", nil)
	produce(ctx, *n)

	var mu sync.Mutex
	seen := map[string]int{}
	done := make(chan struct{})
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i, r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := r.FetchMessage(rctx)
				if err != nil {
					if rctx.Err() == nil {
						emit("fetch_error", map[string]any{"reader": i, "error": err.Error()})
					}
					return
				}
				if err := r.CommitMessages(rctx, m); err != nil && rctx.Err() == nil {
					fail("CommitMessages", err)
				}
				emit("consumed", map[string]any{"reader": i, "partition": m.Partition, "offset": m.Offset,
					"value": string(m.Value)})
				mu.Lock()
				k := fmt.Sprintf("%d/%d", m.Partition, m.Offset)
				seen[k]++
				if len(seen) == *n && seen[k] == 1 {
					close(done)
				}
				mu.Unlock()
			}
		}()
	}
	<-done
	g := describeGroup(ctx, "DescribeGroups")
	var ms []map[string]any
	for _, m := range g.Members {
		ms = append(ms, map[string]any{"member_id": m.MemberID, "client_id": m.ClientID, "assignment": assignment(m)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i]["member_id"].(string) < ms[j]["member_id"].(string) })
	emit("described", map[string]any{"group": g.GroupID, "error": errString(g.Error), "state": g.GroupState,
		"members": ms})
	cancel()
	wg.Wait()
	for _, r := range readers {
		if err := r.Close(); err != nil {
			fail("Reader.Close", err)
		}
	}
	dup := 0
	for _, k := range seen {
		dup += k - 1
	}
	emit("consumed_total", map[string]any{"unique": len(seen), "duplicates": dup})

	of, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: *group, Topics: map[string][]int{*topic: ps}})
	if err != nil {
		fail("OffsetFetch", err)
	}
	if of.Error != nil {
		fail("OffsetFetch", of.Error)
	}
	for _, p := range of.Topics[*topic] {
		emit("committed", map[string]any{"via": "OffsetFetch", "partition": p.Partition, "offset": p.CommittedOffset,
			"error": errString(p.Error)})
	}
	lg, err := client.ListGroups(ctx, &kafka.ListGroupsRequest{})
	if err != nil {
		fail("ListGroups", err)
	}
	groups := map[string]string{}
	for _, x := range lg.Groups {
		groups[x.GroupID] = x.ProtocolType
	}
	emit("listed", map[string]any{"groups": groups, "error": errString(lg.Error)})
	g = describeGroup(ctx, "DescribeGroups")
	emit("described_after", map[string]any{"state": g.GroupState, "members": len(g.Members)})
}

func admin(ctx context.Context) {
	av, err := client.ApiVersions(ctx, &kafka.ApiVersionsRequest{})
	if err != nil {
		fail("ApiVersions", err)
	}
	emit("ApiVersions", map[string]any{"apis": len(av.ApiKeys), "error": errString(av.Error)})

	create := func() error {
		r, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
			Topic: *topic, NumPartitions: 2, ReplicationFactor: 1,
			ConfigEntries: []kafka.ConfigEntry{{ConfigName: "retention.ms", ConfigValue: "3600000"}},
		}}})
		if err != nil {
			fail("CreateTopics", err)
		}
		return r.Errors[*topic]
	}
	err = create()
	emit("CreateTopics", map[string]any{"error": errString(err)})
	if err != nil {
		fail("CreateTopics", err)
	}
	err = create()
	emit("CreateTopics_again", map[string]any{"error": errString(err), "is_exists": errors.Is(err, kafka.TopicAlreadyExists)})

	meta := func(step string, want int) {
		var md *kafka.MetadataResponse
		var err error
		// a new topic's leader, or new partitions, can take a moment to be listed
		for i := 0; i < 100; i++ {
			md, err = client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{*topic}})
			if err == nil && len(md.Topics) == 1 && md.Topics[0].Error == nil && allLed(md.Topics[0]) &&
				len(md.Topics[0].Partitions) == want {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			fail(step, err)
		}
		t := md.Topics[0]
		var ps []map[string]any
		for _, p := range t.Partitions {
			ps = append(ps, map[string]any{"id": p.ID, "leader": p.Leader.ID, "replicas": len(p.Replicas),
				"isr": len(p.Isr), "error": errString(p.Error)})
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i]["id"].(int) < ps[j]["id"].(int) })
		emit(step, map[string]any{"name": t.Name, "error": errString(t.Error), "internal": t.Internal,
			"partitions": ps, "brokers": len(md.Brokers), "controller": md.Controller.ID})
	}
	meta("Metadata", 2)

	cp, err := client.CreatePartitions(ctx, &kafka.CreatePartitionsRequest{Topics: []kafka.TopicPartitionsConfig{
		{Name: *topic, Count: 3}}})
	if err != nil {
		fail("CreatePartitions", err)
	}
	emit("CreatePartitions", map[string]any{"error": errString(cp.Errors[*topic])})
	cp, err = client.CreatePartitions(ctx, &kafka.CreatePartitionsRequest{Topics: []kafka.TopicPartitionsConfig{
		{Name: *topic, Count: 2}}})
	if err != nil {
		fail("CreatePartitions", err)
	}
	emit("CreatePartitions_shrink", map[string]any{"error": errString(cp.Errors[*topic]),
		"is_invalid": errors.Is(cp.Errors[*topic], kafka.InvalidPartitionNumber)})
	meta("Metadata_after", 3)

	descCfg := func(step string) {
		r, err := client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: *topic,
			ConfigNames: []string{"retention.ms", "cleanup.policy", "max.message.bytes"}}}})
		if err != nil {
			fail(step, err)
		}
		if len(r.Resources) != 1 || r.Resources[0].Error != nil {
			fail(step, fmt.Errorf("%+v", r.Resources))
		}
		m := map[string]any{}
		for _, e := range r.Resources[0].ConfigEntries {
			m[e.ConfigName] = map[string]any{"value": e.ConfigValue, "default": e.IsDefault,
				"source": e.ConfigSource, "read_only": e.ReadOnly}
		}
		emit(step, map[string]any{"entries": m})
	}
	descCfg("DescribeConfigs")
	ac, err := client.AlterConfigs(ctx, &kafka.AlterConfigsRequest{Resources: []kafka.AlterConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: *topic,
		Configs: []kafka.AlterConfigRequestConfig{{Name: "max.message.bytes", Value: "2000000"}}}}})
	if err != nil {
		fail("AlterConfigs", err)
	}
	var acErr error
	for _, e := range ac.Errors {
		acErr = errors.Join(acErr, e)
	}
	emit("AlterConfigs", map[string]any{"error": errString(acErr)})
	descCfg("DescribeConfigs_altered")
	ic, err := client.IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{
		Resources: []kafka.IncrementalAlterConfigsRequestResource{{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: *topic,
			Configs: []kafka.IncrementalAlterConfigsRequestConfig{{Name: "retention.ms", Value: "7200000",
				ConfigOperation: kafka.ConfigOperationSet}}}}})
	if err != nil {
		fail("IncrementalAlterConfigs", err)
	}
	var icErr error
	for _, r := range ic.Resources {
		icErr = errors.Join(icErr, r.Error)
	}
	emit("IncrementalAlterConfigs", map[string]any{"error": errString(icErr)})
	descCfg("DescribeConfigs_incremental")

	// ListOffsets after 10 records into partition 0.
	w := &kafka.Writer{Addr: kafka.TCP(*brokers), Topic: *topic, RequiredAcks: kafka.RequireAll,
		Balancer: kafka.BalancerFunc(func(kafka.Message, ...int) int { return 0 }), BatchTimeout: 10 * time.Millisecond,
		MaxAttempts: 10}
	var msgs []kafka.Message
	for i := 0; i < 10; i++ {
		msgs = append(msgs, kafka.Message{Value: []byte(strconv.Itoa(i))})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		fail("WriteMessages", err)
	}
	w.Close()
	offs := listOffsets(ctx, []int{0, 1, 2})
	var lo []map[string]any
	for _, p := range []int{0, 1, 2} {
		lo = append(lo, map[string]any{"partition": p, "first": offs[p].FirstOffset, "last": offs[p].LastOffset})
	}
	emit("ListOffsets", map[string]any{"partitions": lo})

	dt, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{*topic, *topic + "-never-created"}})
	if err != nil {
		fail("DeleteTopics", err)
	}
	emit("DeleteTopics", map[string]any{"error": errString(dt.Errors[*topic]),
		"unknown_error":      errString(dt.Errors[*topic+"-never-created"]),
		"unknown_is_unknown": errors.Is(dt.Errors[*topic+"-never-created"], kafka.UnknownTopicOrPartition)})
	gone := false
	for i := 0; i < 100 && !gone; i++ {
		md, err := client.Metadata(ctx, &kafka.MetadataRequest{})
		if err != nil {
			fail("Metadata", err)
		}
		gone = true
		for _, t := range md.Topics {
			if t.Name == *topic {
				gone = false
			}
		}
		if !gone {
			time.Sleep(100 * time.Millisecond)
		}
	}
	emit("Metadata_after_delete", map[string]any{"gone": gone})
}

func allLed(t kafka.Topic) bool {
	for _, p := range t.Partitions {
		if p.Leader.ID < 0 || p.Error != nil {
			return false
		}
	}
	return len(t.Partitions) > 0
}

var _ net.Addr = kafka.TCP("")
