package mapping

import (
	"testing"

	"druid-migrate/internal/sample"
	"druid-migrate/source"
)

// benchMapper is a realistic CRM export: 12 columns, most with transforms.
func benchMapper(b *testing.B) (*Mapper, source.Record) {
	b.Helper()
	f := &File{
		Key: "crm_id",
		Columns: map[string]Column{
			"DRUID Id":         {To: "objectId"},
			"First Name":       {To: "datas.name", Trim: true},
			"Last Name":        {To: "datas.surname", Trim: true},
			"Email Address":    {To: "ids.email", Trim: true, Lower: true},
			"Email Verified":   {To: "ids.email.confirmed"},
			"Mobile":           {To: "ids.phone_number", Phone: &Phone{Region: "+34"}},
			"Date of Birth":    {To: "datas.birthday", Date: []string{"YYYY-MM-DD"}},
			"Home Street":      {To: "addresses.home.streetAddress"},
			"Home City":        {To: "addresses.home.locality"},
			"Home Zip":         {To: "addresses.home.postalCode"},
			"Marketing Status": {To: "assertions.optin", Map: map[string]string{"Subscribed": "true", "Unsubscribed": "false"}},
		},
		Constants: map[string]string{"assertions.terms": "true", "device": "pc"},
	}
	header := []string{"crm_id", "DRUID Id", "First Name", "Last Name", "Email Address", "Email Verified",
		"Mobile", "Date of Birth", "Home Street", "Home City", "Home Zip", "Marketing Status"}
	m, err := Compile(f, header, Options{AppID: "231705665113870"})
	if err != nil {
		b.Fatal(err)
	}
	rec := source.Record{Line: 2, Values: []string{"c-17", "5f1e0c2a9b", " Ana ", "García López", " Ana.Garcia@Example.com ",
		"yes", "600 11 22 33", "1974-10-22", "Gran Vía 1", "Madrid", "28013", "Subscribed"}}
	return m, rec
}

func BenchmarkBuild(b *testing.B) {
	m, rec := benchMapper(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Build(rec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildParallel measures the throughput of all cores, as users per second.
func BenchmarkBuildParallel(b *testing.B) {
	m, rec := benchMapper(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.Build(rec); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "users/s")
}

// BenchmarkBuildSample is Build alone on the users of internal/sample, the export the
// end-to-end benchmarks run: dotted columns, no mapping file, no transforms.
func BenchmarkBuildSample(b *testing.B) {
	m, err := Compile(nil, sample.Header, Options{AppID: "app"})
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]source.Record, 1024)
	for i := range recs {
		recs[i] = source.Record{Line: i + 2, Values: sample.Row(i+1, "")}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := m.Build(recs[i%len(recs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
