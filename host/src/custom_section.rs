//! Reading and writing WebAssembly custom sections, written against the binary format of the
//! WebAssembly core specification (module preamble, then `id: u8`, `size: u32 LEB128`, `payload`
//! for each section; a custom section, id 0, starts its payload with a LEB128-prefixed UTF-8
//! name).
//!
//! Only the section framing is checked: the contents of the non-custom sections are left to the
//! compiler. Truncated or malformed framing is reported as [`HostError::InvalidWasm`], never as a
//! panic.

use crate::error::{HostError, Result};

/// The name of the custom section in which Kubewarden stores a policy's metadata (JSON).
pub const KUBEWARDEN_METADATA_SECTION: &str = "io.kubewarden.metadata";

const MAGIC: [u8; 4] = *b"\0asm";
const VERSION_1: [u8; 4] = [1, 0, 0, 0];
const PREAMBLE_LEN: usize = 8;
const CUSTOM_SECTION_ID: u8 = 0;

/// One section of a module, as byte ranges into the module.
#[derive(Debug, Clone, Copy)]
struct Section<'a> {
    id: u8,
    /// The whole section: id byte, size and payload.
    bytes: &'a [u8],
    /// The payload only.
    payload: &'a [u8],
}

/// Reads an unsigned LEB128 `u32` at `pos`, returning the value and the position after it.
fn read_u32_leb128(bytes: &[u8], mut pos: usize, what: &str) -> Result<(u32, usize)> {
    let mut result: u32 = 0;
    for index in 0..5u32 {
        let byte = *bytes.get(pos).ok_or_else(|| {
            HostError::InvalidWasm(format!("unexpected end of input while reading the {what}"))
        })?;
        pos += 1;
        // The fifth byte may only carry the 4 high bits of a u32.
        if index == 4 && byte & 0xf0 != 0 {
            return Err(HostError::InvalidWasm(format!(
                "the {what} does not fit in 32 bits"
            )));
        }
        result |= u32::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return Ok((result, pos));
        }
    }
    Err(HostError::InvalidWasm(format!(
        "the {what} is longer than 5 bytes"
    )))
}

/// Appends `value` as unsigned LEB128.
fn write_u32_leb128(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn check_preamble(wasm: &[u8]) -> Result<()> {
    if wasm.len() < PREAMBLE_LEN {
        return Err(HostError::InvalidWasm(format!(
            "{} bytes are too short for a module header",
            wasm.len()
        )));
    }
    if wasm[..4] != MAGIC {
        return Err(HostError::InvalidWasm(
            "missing the \\0asm magic number".to_owned(),
        ));
    }
    if wasm[4..8] != VERSION_1 {
        return Err(HostError::InvalidWasm(format!(
            "unsupported binary format version {:02x?} (only core modules, version 1, are supported)",
            &wasm[4..8]
        )));
    }
    Ok(())
}

/// Splits a module into its sections, checking the framing.
fn sections(wasm: &[u8]) -> Result<Vec<Section<'_>>> {
    check_preamble(wasm)?;
    let mut sections = Vec::new();
    let mut pos = PREAMBLE_LEN;
    while pos < wasm.len() {
        let start = pos;
        let id = wasm[pos];
        let (size, payload_start) = read_u32_leb128(wasm, pos + 1, "section size")?;
        let size = usize::try_from(size)
            .map_err(|_| HostError::InvalidWasm("section size overflows".to_owned()))?;
        let end = payload_start
            .checked_add(size)
            .filter(|end| *end <= wasm.len())
            .ok_or_else(|| {
                HostError::InvalidWasm(format!(
                    "section {id} at offset {start} is truncated: it announces {size} bytes, {} are left",
                    wasm.len() - payload_start.min(wasm.len())
                ))
            })?;
        sections.push(Section {
            id,
            bytes: &wasm[start..end],
            payload: &wasm[payload_start..end],
        });
        pos = end;
    }
    Ok(sections)
}

/// Splits the payload of a custom section into its name and its contents.
fn custom_name_and_data(payload: &[u8]) -> Result<(&str, &[u8])> {
    let (len, name_start) = read_u32_leb128(payload, 0, "custom section name length")?;
    let len = usize::try_from(len)
        .map_err(|_| HostError::InvalidWasm("custom section name overflows".to_owned()))?;
    let name_end = name_start
        .checked_add(len)
        .filter(|end| *end <= payload.len())
        .ok_or_else(|| HostError::InvalidWasm("custom section name is truncated".to_owned()))?;
    let name = std::str::from_utf8(&payload[name_start..name_end]).map_err(|e| {
        HostError::InvalidWasm(format!("custom section name is not valid UTF-8: {e}"))
    })?;
    Ok((name, &payload[name_end..]))
}

/// Returns the contents of the first custom section called `name`, or `None` when the module has
/// no such section.
///
/// # Errors
/// [`HostError::InvalidWasm`] when the module header or the framing of any section is invalid or
/// truncated.
pub fn read_custom_section(wasm: &[u8], name: &str) -> Result<Option<Vec<u8>>> {
    for section in sections(wasm)? {
        if section.id != CUSTOM_SECTION_ID {
            continue;
        }
        let (section_name, data) = custom_name_and_data(section.payload)?;
        if section_name == name {
            return Ok(Some(data.to_vec()));
        }
    }
    Ok(None)
}

/// Encodes a complete custom section (id, size, name, contents).
fn encode_custom_section(name: &str, data: &[u8]) -> Result<Vec<u8>> {
    let too_big = || HostError::InvalidWasm("custom section larger than 4 GiB".to_owned());
    let name_len = u32::try_from(name.len()).map_err(|_| too_big())?;
    let mut payload = Vec::with_capacity(5 + name.len() + data.len());
    write_u32_leb128(&mut payload, name_len);
    payload.extend_from_slice(name.as_bytes());
    payload.extend_from_slice(data);
    let payload_len = u32::try_from(payload.len()).map_err(|_| too_big())?;

    let mut section = Vec::with_capacity(6 + payload.len());
    section.push(CUSTOM_SECTION_ID);
    write_u32_leb128(&mut section, payload_len);
    section.extend_from_slice(&payload);
    Ok(section)
}

/// Returns a copy of `wasm` in which the custom section called `name` holds `data`.
///
/// An existing section of that name is replaced in place (further sections with the same name are
/// dropped); otherwise the new section is appended at the end of the module. All other sections
/// are copied byte for byte.
///
/// # Errors
/// [`HostError::InvalidWasm`] when the module header or the framing of any section is invalid or
/// truncated, or when the new section would be larger than 4 GiB.
pub fn write_custom_section(wasm: &[u8], name: &str, data: &[u8]) -> Result<Vec<u8>> {
    let new_section = encode_custom_section(name, data)?;
    let mut out = Vec::with_capacity(wasm.len() + new_section.len());
    out.extend_from_slice(&wasm[..PREAMBLE_LEN.min(wasm.len())]);
    let mut written = false;
    for section in sections(wasm)? {
        if section.id == CUSTOM_SECTION_ID {
            let (section_name, _) = custom_name_and_data(section.payload)?;
            if section_name == name {
                if !written {
                    out.extend_from_slice(&new_section);
                    written = true;
                }
                continue;
            }
        }
        out.extend_from_slice(section.bytes);
    }
    if !written {
        out.extend_from_slice(&new_section);
    }
    Ok(out)
}

/// Returns a copy of `wasm` without any custom section called `name` (all other sections are
/// copied byte for byte).
///
/// # Errors
/// [`HostError::InvalidWasm`] when the module header or the framing of any section is invalid or
/// truncated.
pub fn remove_custom_section(wasm: &[u8], name: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(wasm.len());
    out.extend_from_slice(&wasm[..PREAMBLE_LEN.min(wasm.len())]);
    for section in sections(wasm)? {
        if section.id == CUSTOM_SECTION_ID && custom_name_and_data(section.payload)?.0 == name {
            continue;
        }
        out.extend_from_slice(section.bytes);
    }
    Ok(out)
}

/// Lists the names of the custom sections of a module, in order (duplicates included).
///
/// # Errors
/// [`HostError::InvalidWasm`] when the module framing is invalid or truncated.
pub fn custom_section_names(wasm: &[u8]) -> Result<Vec<String>> {
    sections(wasm)?
        .into_iter()
        .filter(|s| s.id == CUSTOM_SECTION_ID)
        .map(|s| custom_name_and_data(s.payload).map(|(name, _)| name.to_owned()))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    /// The smallest valid module: just the preamble.
    const EMPTY_MODULE: &[u8] = b"\0asm\x01\0\0\0";

    /// A module with a type section `() -> ()` and a custom section "x" holding "abc".
    fn module_with_sections() -> Vec<u8> {
        let mut wasm = EMPTY_MODULE.to_vec();
        // type section: id 1, size 4, 1 type, func, 0 params, 0 results
        wasm.extend_from_slice(&[1, 4, 1, 0x60, 0, 0]);
        // custom section "x" = "abc": payload = len(1) 'x' 'a' 'b' 'c' -> 5 bytes
        wasm.extend_from_slice(&[0, 5, 1, b'x', b'a', b'b', b'c']);
        wasm
    }

    #[test]
    fn leb128_round_trip() {
        for value in [0u32, 1, 127, 128, 300, 16_383, 16_384, u32::MAX] {
            let mut buf = Vec::new();
            write_u32_leb128(&mut buf, value);
            assert_eq!(read_u32_leb128(&buf, 0, "v").unwrap(), (value, buf.len()));
        }
        // 624485 is the example of the LEB128 article: e5 8e 26
        let mut buf = Vec::new();
        write_u32_leb128(&mut buf, 624_485);
        assert_eq!(buf, [0xe5, 0x8e, 0x26]);
    }

    #[test]
    fn leb128_rejects_overlong_and_truncated() {
        assert!(read_u32_leb128(&[0x80, 0x80], 0, "v").is_err());
        assert!(read_u32_leb128(&[0xff, 0xff, 0xff, 0xff, 0x1f], 0, "v").is_err());
        assert!(read_u32_leb128(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00], 0, "v").is_err());
    }

    #[test]
    fn reads_existing_and_missing_sections() {
        let wasm = module_with_sections();
        assert_eq!(
            read_custom_section(&wasm, "x").unwrap(),
            Some(b"abc".to_vec())
        );
        assert_eq!(read_custom_section(&wasm, "y").unwrap(), None);
        assert_eq!(read_custom_section(EMPTY_MODULE, "x").unwrap(), None);
    }

    #[test]
    fn write_appends_then_reads_back() {
        let wasm = module_with_sections();
        let payload = br#"{"protocolVersion":"v1"}"#;
        let out = write_custom_section(&wasm, KUBEWARDEN_METADATA_SECTION, payload).unwrap();
        assert_eq!(
            read_custom_section(&out, KUBEWARDEN_METADATA_SECTION).unwrap(),
            Some(payload.to_vec())
        );
        // everything that was there is still there, unchanged, in front
        assert_eq!(&out[..wasm.len()], wasm.as_slice());
        assert_eq!(
            custom_section_names(&out).unwrap(),
            vec!["x".to_owned(), KUBEWARDEN_METADATA_SECTION.to_owned()]
        );
    }

    #[test]
    fn write_replaces_in_place_and_drops_duplicates() {
        let mut wasm = module_with_sections();
        // a second "x" section after a "y" one
        wasm.extend_from_slice(&[0, 3, 1, b'y', b'!']);
        wasm.extend_from_slice(&[0, 4, 1, b'x', b'd', b'e']);
        let big = vec![b'z'; 300]; // needs a 2-byte size
        let out = write_custom_section(&wasm, "x", &big).unwrap();
        assert_eq!(read_custom_section(&out, "x").unwrap(), Some(big.clone()));
        assert_eq!(read_custom_section(&out, "y").unwrap(), Some(b"!".to_vec()));
        assert_eq!(
            custom_section_names(&out).unwrap(),
            vec!["x".to_owned(), "y".to_owned()]
        );
        // the type section is still first and untouched
        assert_eq!(&out[8..14], &[1, 4, 1, 0x60, 0, 0]);
        // writing again with the same data is idempotent
        assert_eq!(write_custom_section(&out, "x", &big).unwrap(), out);
        // removing gives the module back without the section
        let removed = remove_custom_section(&out, "x").unwrap();
        assert_eq!(
            custom_section_names(&removed).unwrap(),
            vec!["y".to_owned()]
        );
        assert_eq!(&removed[8..14], &[1, 4, 1, 0x60, 0, 0]);
        assert_eq!(remove_custom_section(&removed, "x").unwrap(), removed);
        assert!(remove_custom_section(&out[..out.len() - 1], "x").is_err());
    }

    #[test]
    fn truncated_or_foreign_input_is_rejected() {
        let wasm = module_with_sections();
        for cut in [0, 3, 7, 9, 12, wasm.len() - 1] {
            let err = read_custom_section(&wasm[..cut], "x").unwrap_err();
            assert!(
                matches!(err, HostError::InvalidWasm(_)),
                "cut at {cut}: {err}"
            );
            assert!(write_custom_section(&wasm[..cut], "x", b"1").is_err());
        }
        assert!(
            read_custom_section(b"\0asm\x0d\0\x01\0", "x")
                .unwrap_err()
                .to_string()
                .contains("version")
        );
        assert!(
            read_custom_section(b"not wasm at all", "x")
                .unwrap_err()
                .to_string()
                .contains("magic")
        );
        // a custom section whose name runs past its payload
        let mut bad = EMPTY_MODULE.to_vec();
        bad.extend_from_slice(&[0, 2, 5, b'x']);
        assert!(read_custom_section(&bad, "x").is_err());
        // a custom section name that is not UTF-8
        let mut bad = EMPTY_MODULE.to_vec();
        bad.extend_from_slice(&[0, 2, 1, 0xff]);
        assert!(
            read_custom_section(&bad, "x")
                .unwrap_err()
                .to_string()
                .contains("UTF-8")
        );
    }
}
