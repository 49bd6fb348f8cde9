//! Entity types, named as Microsoft Presidio names them so that policies carry over.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub enum Entity {
    EMAIL_ADDRESS,
    PHONE_NUMBER,
    US_SSN,
    CREDIT_CARD,
    IBAN_CODE,
    IP_ADDRESS,
    MAC_ADDRESS,
    URL,
    /// A date, reported only as a date of birth (with context).
    DATE_TIME,
    US_PASSPORT,
    US_DRIVER_LICENSE,
    US_BANK_NUMBER,
    US_ITIN,
    UK_NHS,
    UK_NINO,
    CRYPTO,
    MEDICAL_LICENSE,
    /// Medical record numbers (with context).
    MEDICAL_RECORD_NUMBER,
    AWS_ACCESS_KEY,
    PRIVATE_KEY,
    JWT,
    /// A high-entropy token next to a word like key, token or secret.
    SECRET_TOKEN,
}

impl Entity {
    pub const ALL: [Entity; 22] = [
        Entity::EMAIL_ADDRESS,
        Entity::PHONE_NUMBER,
        Entity::US_SSN,
        Entity::CREDIT_CARD,
        Entity::IBAN_CODE,
        Entity::IP_ADDRESS,
        Entity::MAC_ADDRESS,
        Entity::URL,
        Entity::DATE_TIME,
        Entity::US_PASSPORT,
        Entity::US_DRIVER_LICENSE,
        Entity::US_BANK_NUMBER,
        Entity::US_ITIN,
        Entity::UK_NHS,
        Entity::UK_NINO,
        Entity::CRYPTO,
        Entity::MEDICAL_LICENSE,
        Entity::MEDICAL_RECORD_NUMBER,
        Entity::AWS_ACCESS_KEY,
        Entity::PRIVATE_KEY,
        Entity::JWT,
        Entity::SECRET_TOKEN,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Entity::EMAIL_ADDRESS => "EMAIL_ADDRESS",
            Entity::PHONE_NUMBER => "PHONE_NUMBER",
            Entity::US_SSN => "US_SSN",
            Entity::CREDIT_CARD => "CREDIT_CARD",
            Entity::IBAN_CODE => "IBAN_CODE",
            Entity::IP_ADDRESS => "IP_ADDRESS",
            Entity::MAC_ADDRESS => "MAC_ADDRESS",
            Entity::URL => "URL",
            Entity::DATE_TIME => "DATE_TIME",
            Entity::US_PASSPORT => "US_PASSPORT",
            Entity::US_DRIVER_LICENSE => "US_DRIVER_LICENSE",
            Entity::US_BANK_NUMBER => "US_BANK_NUMBER",
            Entity::US_ITIN => "US_ITIN",
            Entity::UK_NHS => "UK_NHS",
            Entity::UK_NINO => "UK_NINO",
            Entity::CRYPTO => "CRYPTO",
            Entity::MEDICAL_LICENSE => "MEDICAL_LICENSE",
            Entity::MEDICAL_RECORD_NUMBER => "MEDICAL_RECORD_NUMBER",
            Entity::AWS_ACCESS_KEY => "AWS_ACCESS_KEY",
            Entity::PRIVATE_KEY => "PRIVATE_KEY",
            Entity::JWT => "JWT",
            Entity::SECRET_TOKEN => "SECRET_TOKEN",
        }
    }

    pub fn parse(s: &str) -> Option<Entity> {
        Entity::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
