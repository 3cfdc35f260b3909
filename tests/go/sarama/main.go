// sarama-check: IBM/sarama (the most used Go client) against a broker, one
// scenario per run, results as JSON lines on stdout (one object a line,
// "event" names it). tests/integration/test_go_clients.py runs it and checks
// the lines; a failed step prints {"event":"error","step":...,"error":...}
// and exits 1.
//
//	sarama-check -brokers 127.0.0.1:9092 -version default -topic t produce
//
// -version: "default" leaves sarama.Config.Version as sarama sets it (what a
// user who never sets it gets), anything else is parsed by
// sarama.ParseKafkaVersion ("4.0.0", "2.0.0", ...).
//
// Scenarios:
//
//	produce  a SyncProducer (acks all; idempotent with -idempotent) sends -n
//	         keyed records with a header to -topic; one "produced" line each
//	consume  a partition consumer per partition of -topic from the oldest
//	         offset to the high watermark; one "record" line each
//	group    two ConsumerGroup members join -group on -topic; once both
//	         hold partitions in one generation, -n records are produced;
//	         the members consume them and mark each (committed by
//	         AutoCommit and at the session's end); the group is
//	         described while both are in it; after they leave, the
//	         committed offsets are read back through ClusterAdmin and an
//	         OffsetManager; ListConsumerGroups names the group
//	admin    ClusterAdmin: CreateTopic (and again: already exists),
//	         DescribeTopics, ListTopics, CreatePartitions, DescribeConfig,
//	         AlterConfig, IncrementalAlterConfig, DeleteRecords,
//	         DescribeCluster, DeleteTopic
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

var (
	brokers    = flag.String("brokers", "127.0.0.1:9092", "bootstrap address")
	version    = flag.String("version", "default", `Kafka version for sarama.Config.Version, or "default"`)
	topic      = flag.String("topic", "sarama-check", "topic")
	group      = flag.String("group", "sarama-check-group", "consumer group")
	n          = flag.Int("n", 300, "records to produce")
	idempotent = flag.Bool("idempotent", false, "idempotent producer")
	retention  = flag.Duration("retention", 0, "Consumer.Offsets.Retention (OffsetCommit v2-4 retention_time)")
	deadline   = flag.Duration("timeout", 60*time.Second, "bound on the whole scenario")
	debug      = flag.Bool("debug", false, "sarama's log on stderr")
	headers    = flag.Bool("headers", true, "produce with a record header (sarama needs Version >= 0.11 for headers)")
)

var out = json.NewEncoder(os.Stdout)
var outMu sync.Mutex

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

func config() *sarama.Config {
	c := sarama.NewConfig()
	c.ClientID = "sarama-check"
	if *version != "default" {
		v, err := sarama.ParseKafkaVersion(*version)
		if err != nil {
			fail("config", err)
		}
		c.Version = v
	}
	c.Metadata.Retry.Max = 10
	c.Metadata.Retry.Backoff = 200 * time.Millisecond
	c.Net.DialTimeout = 10 * time.Second
	c.Net.ReadTimeout = 20 * time.Second
	c.Net.WriteTimeout = 10 * time.Second
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Return.Successes = true
	c.Producer.Retry.Max = 10
	c.Producer.Retry.Backoff = 200 * time.Millisecond
	c.Producer.Partitioner = sarama.NewHashPartitioner
	if *idempotent {
		c.Producer.Idempotent = true
		c.Net.MaxOpenRequests = 1
	}
	c.Consumer.Return.Errors = true
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Offsets.AutoCommit.Enable = true
	c.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	c.Consumer.Offsets.Retention = *retention
	c.Consumer.Group.Session.Timeout = 10 * time.Second
	c.Consumer.Group.Heartbeat.Interval = 1 * time.Second
	c.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	c.Consumer.Group.Rebalance.Retry.Max = 20
	c.Admin.Timeout = 20 * time.Second
	c.Admin.Retry.Max = 10
	return c
}

func main() {
	flag.Parse()
	if *debug {
		sarama.Logger = log.New(os.Stderr, "[sarama] ", log.LstdFlags|log.Lmicroseconds)
	}
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: sarama-check [flags] produce|consume|group|admin")
		os.Exit(2)
	}
	// A scenario that hangs is a failure with a line saying where.
	time.AfterFunc(*deadline, func() { fail("timeout", fmt.Errorf("scenario not done after %s", *deadline)) })
	c := config()
	emit("config", map[string]any{"version": c.Version.String(), "sarama_default": sarama.DefaultVersion.String(),
		"idempotent": *idempotent})
	switch flag.Arg(0) {
	case "produce":
		produce(c, *n, 0)
	case "consume":
		consume(c)
	case "group":
		runGroup(c)
	case "admin":
		admin(c)
	default:
		fail("usage", fmt.Errorf("unknown scenario %q", flag.Arg(0)))
	}
	emit("done", nil)
}

func produce(c *sarama.Config, count, first int) {
	p, err := sarama.NewSyncProducer([]string{*brokers}, c)
	if err != nil {
		fail("NewSyncProducer", err)
	}
	defer p.Close()
	for i := first; i < first+count; i++ {
		m := &sarama.ProducerMessage{
			Topic:   *topic,
			Key:     sarama.StringEncoder(fmt.Sprintf("key-%d", i%17)),
			Value:   sarama.StringEncoder(fmt.Sprintf("value-%d", i)),
			Headers: []sarama.RecordHeader{{Key: []byte("i"), Value: []byte(fmt.Sprint(i))}},
		}
		if !*headers {
			m.Headers = nil
		}
		part, off, err := p.SendMessage(m)
		if err != nil {
			fail("SendMessage", err)
		}
		emit("produced", map[string]any{"partition": part, "offset": off,
			"key": fmt.Sprintf("key-%d", i%17), "value": fmt.Sprintf("value-%d", i)})
	}
}

func consume(c *sarama.Config) {
	client, err := sarama.NewClient([]string{*brokers}, c)
	if err != nil {
		fail("NewClient", err)
	}
	defer client.Close()
	parts, err := client.Partitions(*topic)
	if err != nil {
		fail("Partitions", err)
	}
	cons, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		fail("NewConsumer", err)
	}
	defer cons.Close()
	for _, p := range parts {
		hwm, err := client.GetOffset(*topic, p, sarama.OffsetNewest)
		if err != nil {
			fail("GetOffset", err)
		}
		low, err := client.GetOffset(*topic, p, sarama.OffsetOldest)
		if err != nil {
			fail("GetOffset", err)
		}
		emit("watermarks", map[string]any{"partition": p, "low": low, "high": hwm})
		if hwm == low {
			continue
		}
		pc, err := cons.ConsumePartition(*topic, p, sarama.OffsetOldest)
		if err != nil {
			fail("ConsumePartition", err)
		}
		for done := false; !done; {
			select {
			case m := <-pc.Messages():
				hdr := map[string]string{}
				for _, h := range m.Headers {
					hdr[string(h.Key)] = string(h.Value)
				}
				emit("record", map[string]any{"partition": m.Partition, "offset": m.Offset,
					"key": string(m.Key), "value": string(m.Value), "headers": hdr})
				done = m.Offset+1 >= hwm
			case e := <-pc.Errors():
				fail("ConsumePartition", e)
			}
		}
		pc.Close()
	}
}

// member is one ConsumerGroup member's handler.
type member struct {
	name     string
	mu       sync.Mutex
	gen      int32
	claims   []int32
	consumed map[string]int // "p/o" -> times
	total    *countdown
}

type countdown struct {
	mu     sync.Mutex
	seen   map[string]bool
	want   int
	doneCh chan struct{}
}

func (cd *countdown) add(key string) {
	cd.mu.Lock()
	defer cd.mu.Unlock()
	if cd.seen[key] {
		return
	}
	cd.seen[key] = true
	if len(cd.seen) == cd.want {
		close(cd.doneCh)
	}
}

func (m *member) Setup(s sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	m.gen = s.GenerationID()
	m.claims = append([]int32(nil), s.Claims()[*topic]...)
	m.mu.Unlock()
	emit("assigned", map[string]any{"member": m.name, "generation": s.GenerationID(),
		"member_id": s.MemberID(), "partitions": s.Claims()[*topic]})
	return nil
}

func (m *member) Cleanup(s sarama.ConsumerGroupSession) error {
	s.Commit()
	emit("session_end", map[string]any{"member": m.name, "generation": s.GenerationID()})
	return nil
}

func (m *member) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for {
		select {
		case msg, ok := <-c.Messages():
			if !ok {
				return nil
			}
			key := fmt.Sprintf("%d/%d", msg.Partition, msg.Offset)
			m.mu.Lock()
			m.consumed[key]++
			m.mu.Unlock()
			emit("consumed", map[string]any{"member": m.name, "partition": msg.Partition, "offset": msg.Offset,
				"value": string(msg.Value), "generation": s.GenerationID()})
			// Marked offsets are committed by the offset manager every
			// 100 ms (AutoCommit) and when the session ends (Cleanup).
			// Not Commit() per message: sarama's broker lock is held by
			// a Fetch for its whole long poll, so each synchronous
			// commit on the coordinator's connection waits up to
			// MaxWaitTime (500 ms).
			s.MarkMessage(msg, "")
			m.total.add(key)
		case <-s.Context().Done():
			return nil
		}
	}
}

func (m *member) snapshot() (int32, []int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gen, m.claims
}

func runGroup(c *sarama.Config) {
	client, err := sarama.NewClient([]string{*brokers}, c)
	if err != nil {
		fail("NewClient", err)
	}
	defer client.Close()
	parts, err := client.Partitions(*topic)
	if err != nil {
		fail("Partitions", err)
	}
	cd := &countdown{seen: map[string]bool{}, want: *n, doneCh: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var members []*member
	var groups []sarama.ConsumerGroup
	for i := 0; i < 2; i++ {
		m := &member{name: fmt.Sprintf("m%d", i), consumed: map[string]int{}, total: cd}
		g, err := sarama.NewConsumerGroup([]string{*brokers}, *group, config())
		if err != nil {
			fail("NewConsumerGroup", err)
		}
		members, groups = append(members, m), append(groups, g)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := g.Consume(ctx, []string{*topic}, m); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
					emit("consume_error", map[string]any{"member": m.name, "error": err.Error()})
					time.Sleep(200 * time.Millisecond)
				}
			}
		}()
		go func() {
			for e := range g.Errors() {
				emit("group_error", map[string]any{"member": m.name, "error": e.Error()})
			}
		}()
	}
	// Both members in one generation, holding every partition between them.
	for {
		g0, c0 := members[0].snapshot()
		g1, c1 := members[1].snapshot()
		if g0 == g1 && g0 > 0 && len(c0) > 0 && len(c1) > 0 && len(c0)+len(c1) == len(parts) {
			emit("stable", map[string]any{"generation": g0, "m0": c0, "m1": c1})
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		fail("NewClusterAdmin", err)
	}
	produce(c, *n, 0)
	<-cd.doneCh
	desc, err := admin.DescribeConsumerGroups([]string{*group})
	if err != nil {
		fail("DescribeConsumerGroups", err)
	}
	for _, d := range desc {
		var ms []map[string]any
		for id, md := range d.Members {
			a, err := md.GetMemberAssignment()
			if err != nil {
				fail("GetMemberAssignment", err)
			}
			ms = append(ms, map[string]any{"member_id": id, "client_id": md.ClientId, "assignment": a.Topics[*topic]})
		}
		sort.Slice(ms, func(i, j int) bool { return ms[i]["member_id"].(string) < ms[j]["member_id"].(string) })
		emit("described", map[string]any{"group": d.GroupId, "error": kerr(d.Err), "state": d.State,
			"protocol_type": d.ProtocolType, "protocol": d.Protocol, "members": ms})
	}
	cancel()
	for _, g := range groups {
		if err := g.Close(); err != nil {
			fail("ConsumerGroup.Close", err)
		}
	}
	wg.Wait()
	dup := 0
	for _, m := range members {
		for _, k := range m.consumed {
			dup += k - 1
		}
	}
	emit("consumed_total", map[string]any{"unique": len(cd.seen), "duplicates": dup})

	off, err := admin.ListConsumerGroupOffsets(*group, map[string][]int32{*topic: parts})
	if err != nil {
		fail("ListConsumerGroupOffsets", err)
	}
	for _, p := range parts {
		b := off.GetBlock(*topic, p)
		if b == nil {
			fail("ListConsumerGroupOffsets", fmt.Errorf("no block for partition %d", p))
		}
		emit("committed", map[string]any{"via": "ListConsumerGroupOffsets", "partition": p, "offset": b.Offset,
			"error": kerr(b.Err)})
	}
	om, err := sarama.NewOffsetManagerFromClient(*group, client)
	if err != nil {
		fail("NewOffsetManager", err)
	}
	for _, p := range parts {
		pom, err := om.ManagePartition(*topic, p)
		if err != nil {
			fail("ManagePartition", err)
		}
		next, _ := pom.NextOffset()
		emit("committed", map[string]any{"via": "OffsetManager", "partition": p, "offset": next})
		pom.AsyncClose()
	}
	om.Close()
	groupsList, err := admin.ListConsumerGroups()
	if err != nil {
		fail("ListConsumerGroups", err)
	}
	emit("listed", map[string]any{"groups": groupsList})
	desc, err = admin.DescribeConsumerGroups([]string{*group})
	if err != nil {
		fail("DescribeConsumerGroups", err)
	}
	emit("described_after", map[string]any{"state": desc[0].State, "members": len(desc[0].Members)})
}

func admin(c *sarama.Config) {
	a, err := sarama.NewClusterAdmin([]string{*brokers}, c)
	if err != nil {
		fail("NewClusterAdmin", err)
	}
	defer a.Close()
	ret := "3600000"
	err = a.CreateTopic(*topic, &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"retention.ms": &ret}}, false)
	emit("CreateTopic", map[string]any{"error": errString(err)})
	if err != nil {
		fail("CreateTopic", err)
	}
	err = a.CreateTopic(*topic, &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false)
	emit("CreateTopic_again", map[string]any{"error": errString(err), "is_exists": errors.Is(err, sarama.ErrTopicAlreadyExists)})

	describe := func(step string, want int) {
		var md []*sarama.TopicMetadata
		var err error
		// a new topic's leader, or new partitions, can take a moment to be listed
		for i := 0; i < 50; i++ {
			md, err = a.DescribeTopics([]string{*topic})
			if err == nil && len(md) == 1 && md[0].Err == sarama.ErrNoError && allLed(md[0]) &&
				len(md[0].Partitions) == want {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			fail(step, err)
		}
		var ps []map[string]any
		for _, p := range md[0].Partitions {
			ps = append(ps, map[string]any{"id": p.ID, "leader": p.Leader, "replicas": p.Replicas, "isr": p.Isr})
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i]["id"].(int32) < ps[j]["id"].(int32) })
		emit(step, map[string]any{"name": md[0].Name, "error": kerr(md[0].Err),
			"internal": md[0].IsInternal, "partitions": ps})
	}
	describe("DescribeTopics", 2)

	topics, err := a.ListTopics()
	if err != nil {
		fail("ListTopics", err)
	}
	d, ok := topics[*topic]
	emit("ListTopics", map[string]any{"found": ok, "partitions": d.NumPartitions,
		"retention.ms": deref(d.ConfigEntries["retention.ms"])})

	err = a.CreatePartitions(*topic, 3, nil, false)
	emit("CreatePartitions", map[string]any{"error": errString(err)})
	err = a.CreatePartitions(*topic, 2, nil, false)
	emit("CreatePartitions_shrink", map[string]any{"error": errString(err), "is_invalid": errors.Is(err, sarama.ErrInvalidPartitions)})
	describe("DescribeTopics_after", 3)

	descCfg := func(step string) {
		entries, err := a.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: *topic,
			ConfigNames: []string{"retention.ms", "cleanup.policy", "max.message.bytes"}})
		if err != nil {
			fail(step, err)
		}
		m := map[string]any{}
		for _, e := range entries {
			m[e.Name] = map[string]any{"value": e.Value, "default": e.Default, "source": e.Source.String(),
				"read_only": e.ReadOnly}
		}
		emit(step, map[string]any{"entries": m})
	}
	descCfg("DescribeConfig")
	seg := "2000000"
	err = a.AlterConfig(sarama.TopicResource, *topic, map[string]*string{"max.message.bytes": &seg}, false)
	emit("AlterConfig", map[string]any{"error": errString(err)})
	descCfg("DescribeConfig_altered")
	ret2 := "7200000"
	err = a.IncrementalAlterConfig(sarama.TopicResource, *topic, map[string]sarama.IncrementalAlterConfigsEntry{
		"retention.ms": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &ret2}}, false)
	emit("IncrementalAlterConfig", map[string]any{"error": errString(err)})
	descCfg("DescribeConfig_incremental")

	// DeleteRecords: 10 records into partition 0, then delete below offset 4.
	cp := *c
	cp.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer([]string{*brokers}, &cp)
	if err != nil {
		fail("NewSyncProducer", err)
	}
	for i := 0; i < 10; i++ {
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: *topic, Partition: 0,
			Value: sarama.StringEncoder(fmt.Sprint(i))}); err != nil {
			fail("SendMessage", err)
		}
	}
	p.Close()
	err = a.DeleteRecords(*topic, map[int32]int64{0: 4})
	emit("DeleteRecords", map[string]any{"error": errString(err)})
	cl, err := sarama.NewClient([]string{*brokers}, c)
	if err != nil {
		fail("NewClient", err)
	}
	low, err1 := cl.GetOffset(*topic, 0, sarama.OffsetOldest)
	high, err2 := cl.GetOffset(*topic, 0, sarama.OffsetNewest)
	cl.Close()
	if err1 != nil || err2 != nil {
		fail("GetOffset", errors.Join(err1, err2))
	}
	emit("offsets_after_delete", map[string]any{"low": low, "high": high})

	bs, ctrl, err := a.DescribeCluster()
	if err != nil {
		fail("DescribeCluster", err)
	}
	emit("DescribeCluster", map[string]any{"brokers": len(bs), "controller": ctrl})

	err = a.DeleteTopic(*topic)
	emit("DeleteTopic", map[string]any{"error": errString(err)})
	var gone bool
	for i := 0; i < 100 && !gone; i++ {
		topics, err = a.ListTopics()
		if err != nil {
			fail("ListTopics", err)
		}
		_, found := topics[*topic]
		gone = !found
		if !gone {
			time.Sleep(100 * time.Millisecond)
		}
	}
	emit("ListTopics_after_delete", map[string]any{"gone": gone})
	err = a.DeleteTopic(*topic + "-never-created")
	emit("DeleteTopic_unknown", map[string]any{"error": errString(err),
		"is_unknown": errors.Is(err, sarama.ErrUnknownTopicOrPartition)})
}

func allLed(t *sarama.TopicMetadata) bool {
	for _, p := range t.Partitions {
		if p.Leader < 0 || p.Err != sarama.ErrNoError {
			return false
		}
	}
	return len(t.Partitions) > 0
}

func deref(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func kerr(k sarama.KError) any {
	if k == sarama.ErrNoError {
		return nil
	}
	return k.Error()
}
