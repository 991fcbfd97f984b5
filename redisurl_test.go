package sessionjwt

import (
	"strings"
	"testing"
)

// With Sentinel or Cluster, redisURL gives the data nodes' scheme, credentials and database; each node's
// TLS server name is the host of its address.
func TestNodesURL(t *testing.T) {
	tests := []struct {
		url, nodes     string
		tls            bool
		user, password string
		db             int
		wantErr        string
	}{
		{"", "redisClusterAddresses", false, "", "", 0, ""},
		{"redis://", "redisClusterAddresses", false, "", "", 0, ""},
		{"rediss://", "redisClusterAddresses", true, "", "", 0, ""},
		{"redis://alice:pw@/3", "redisSentinelAddresses", false, "alice", "pw", 3, ""},
		{"rediss://:pw@/0", "redisSentinelAddresses", true, "", "pw", 0, ""},
		{"redis://host:6379/0", "redisClusterAddresses", false, "", "", 0, "redisURL names a host"},
		{"redis:///0?x=1", "redisClusterAddresses", false, "", "", 0, "no query parameters"},
		{"unix:///r.sock", "redisSentinelAddresses", false, "", "", 0, "must be redis:// or rediss://"},
		{"", "", false, "", "", 0, ""}, // one endpoint: the default URL
	}
	for _, tt := range tests {
		o, err := parseRedisURL(tt.url, tt.nodes)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q with %s: err = %v, want %q", tt.url, tt.nodes, err, tt.wantErr)
			}
			continue
		}
		if err != nil || (o.tlsConfig != nil) != tt.tls || o.username != tt.user || o.password != tt.password || o.db != tt.db {
			t.Errorf("%q with %s: %+v, %v", tt.url, tt.nodes, o, err)
			continue
		}
		if tt.nodes == "" && o.address != "127.0.0.1:6379" {
			t.Errorf("the default redisURL reaches %s, want 127.0.0.1:6379", o.address)
		}
		node := o.at("10.0.0.7:6380")
		if node.address != "10.0.0.7:6380" || (tt.tls && node.tlsConfig.ServerName != "10.0.0.7") {
			t.Errorf("%q: at() gives %s, server name %v", tt.url, node.address, node.tlsConfig)
		}
		if tt.tls && o.tlsConfig.ServerName != "" {
			t.Errorf("%q: at() changed the template's server name", tt.url)
		}
	}
}
