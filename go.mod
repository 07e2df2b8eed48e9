module github.com/tandemhost/tandem

go 1.26.0

require (
	github.com/klauspost/cpuid/v2 v2.4.2
	github.com/kluctl/go-embed-python v0.0.0-3.14.6-20260610-1
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.3
	github.com/stretchr/testify v1.12.1
	go.yaml.in/yaml/v3 v3.0.6
	golang.org/x/sys v0.50.0
	golang.org/x/text v0.40.0
)

require (
	github.com/gofrs/flock v0.13.0 // indirect
	github.com/sirupsen/logrus v1.9.4 // indirect
	golang.org/x/sync v0.22.0 // indirect
)
