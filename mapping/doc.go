// Package mapping turns source records into DRUID update payloads (SPEC §2.1 and §3).
//
// DRUID's update call is a full replacement: whatever a request leaves out is deleted from the
// user. So this package is strict: it refuses at start a mapping that could send the wrong
// thing (two columns feeding one field, a target that is not a payload path, an id or data
// name that DRUID does not document and the file does not declare under custom, a column the
// source does not have, a constant that would not pass DRUID's checks), and it refuses each
// record that DRUID would reject or that would wipe data: no ids, no datas or no assertions,
// an empty value in a column marked required, or, when the run's token does not name the user
// ([Options].RequireObjectID), no objectId.
//
// The flow is two steps. [Compile] checks a [File] (the --mapping YAML, read by [Load]) against
// the source's header once and turns it into a [Mapper]: one operation per used column, with
// its index in the record, its transforms and its target resolved. [Mapper.Build] then runs
// those operations over each record's values, with no lookup by column name and no regular
// expression compiled per record, and returns a [sink.Payload] whose Body is the exact JSON
// sent, or a [*RecordError] naming the line, the key, the field and the column.
//
// Column names that are payload paths (key, objectId, password, ids.email, datas.name,
// addresses.home.locality, assertions.terms, token, locale, device, …) map with no mapping
// file; a mapping file renames other columns to those paths and reshapes their values
// (trim, lower, map, date, phone, in that order). Phone numbers go through libphonenumber,
// which validates them in each row's region and writes them in E.164.
//
// Secrets: the values of the password and token columns never appear in an error, and
// [Mask] hides the password of a request before it is printed.
package mapping
