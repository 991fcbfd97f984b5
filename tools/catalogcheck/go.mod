module github.com/sessionjwt/sessionjwt/tools/catalogcheck

go 1.24.0

require (
	github.com/mitchellh/mapstructure v1.5.1-0.20231216201459-8508981c8b6c
	github.com/traefik/yaegi v0.16.1
	golang.org/x/mod v0.32.0
	gopkg.in/yaml.v3 v3.0.1
)
