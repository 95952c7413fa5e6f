package sink

// The wire format of DRUID's update user call (SPEC §2.1). encoding/json writes map keys in
// sorted order, so the same user always encodes to the same bytes: the payload hash relies on it.

// Object types DRUID expects in the envelope.
const (
	ObjectTypeApplication = "application"
	ObjectTypeUser        = "user"
	ObjectTypeUserID      = "user_id"
	ObjectTypeUserData    = "user_data"
	ObjectTypeAddresses   = "addresses"
	ObjectTypeAddress     = "address"
	ObjectTypeAssertions  = "assertions"
	ObjectTypeAssertion   = "assertion"
	ObjectTypeDevice      = "device"
	TypologyUser          = "user"
)

// Request is the body of POST /activityid/v1/user/update.
type Request struct {
	Actor  Actor  `json:"actor"`
	Verb   string `json:"verb"`
	Object User   `json:"object"`
	Source Device `json:"source"`
}

// Actor names the application making the call.
type Actor struct {
	ID         string `json:"id"`
	ObjectType string `json:"objectType"`
}

// Device is the request's source: the kind of device doing the activity.
type Device struct {
	ID         string `json:"id"`
	ObjectType string `json:"objectType"`
}

// User is a DRUID user as the update call carries it and as DRUID returns it in content.user.
type User struct {
	ObjectType string          `json:"objectType"`
	ObjectID   string          `json:"objectId,omitempty"`
	Password   string          `json:"password,omitempty"`
	IDs        map[string]ID   `json:"ids,omitempty"`
	Datas      map[string]Data `json:"datas,omitempty"`
	Addresses  *Addresses      `json:"addresses,omitempty"`
	Assertions *Assertions     `json:"assertions,omitempty"`
}

// ID is one of the user's identifiers (email, phone_number, …).
type ID struct {
	ObjectType string `json:"objectType"`
	Value      string `json:"value"`
	Confirmed  *bool  `json:"confirmed,omitempty"`
}

// Data is one of the user's data fields (name, surname, birthday, …).
type Data struct {
	ObjectType string `json:"objectType"`
	Value      string `json:"value"`
}

// Addresses is the collection of the user's addresses, one item per address type.
type Addresses struct {
	ObjectType string    `json:"objectType"`
	TotalItems int       `json:"totalItems"`
	Items      []Address `json:"items"`
}

// Address is one postal address; Type is its kind (home, work, …).
type Address struct {
	ObjectType    string `json:"objectType"`
	Type          string `json:"type"`
	StreetAddress string `json:"streetAddress,omitempty"`
	Locality      string `json:"locality,omitempty"`
	Region        string `json:"region,omitempty"`
	PostalCode    string `json:"postalCode,omitempty"`
	Country       string `json:"country,omitempty"`
}

// Assertions is the collection of the user's legal assertions (terms, opt-ins, …).
type Assertions struct {
	ObjectType string      `json:"objectType"`
	TotalItems int         `json:"totalItems"`
	Items      []Assertion `json:"items"`
}

// Assertion is one legal assertion; Type names it (terms, optin, …).
type Assertion struct {
	ObjectType string `json:"objectType"`
	Type       string `json:"type"`
	Typology   string `json:"typology"`
	Value      bool   `json:"value"`
}

// Payload is one user's update, built once from its record and sent as often as retries need.
// Token and the password inside Body are secrets: Payload has no String method and must never
// be logged whole.
type Payload struct {
	Key      string // the user's stable key in the checkpoint
	Line     int    // where the record came from (CSV line number, or row number)
	ObjectID string // object.objectId, when the record names the DRUID user
	Token    string // the user's own bearer token, when the source carries one
	Locale   string // the user's Accept-Language, when the source carries one
	Request  Request
	Body     []byte // Request encoded as JSON: the exact bytes sent
	// Empty names the fields the source explicitly empties (mapping.EmptyMarker), by path
	// (datas.surname): merge mode removes them rather than keeping DRUID's values.
	Empty []string
}

// Response is DRUID's envelope, sent on every status but 304.
type Response struct {
	Content struct {
		User *User `json:"user,omitempty"`
	} `json:"content"`
	Result Result `json:"result"`
}

// Result is the result part of DRUID's envelope.
type Result struct {
	Status int          `json:"status"`
	Errors []FieldError `json:"errors,omitempty"`
}

// FieldError is one of DRUID's errors: Message names the field, Details says what is wrong.
type FieldError struct {
	Message string `json:"message"`
	Details string `json:"details,omitempty"`
}
