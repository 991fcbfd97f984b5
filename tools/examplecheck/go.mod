module github.com/sessionjwt/sessionjwt/tools/examplecheck

go 1.22.0

require (
	github.com/mitchellh/mapstructure v1.5.1-0.20231216201459-8508981c8b6c
	github.com/sessionjwt/sessionjwt v0.0.0
	github.com/traefik/paerser v0.2.2
	gopkg.in/yaml.v3 v3.0.1
)

replace github.com/sessionjwt/sessionjwt => ../..
