//! Every word the setup page shows, in one table per language.
//!
//! `{domain}`, `{address}` and `{link}` in a string are filled in by the page writer (after
//! escaping). Authentication names follow what each language's Thunderbird shows, so that a
//! person can match the page against the client's own manual-setup form.

/// A language the setup page is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// English (the fallback).
    En,
    /// German.
    De,
    /// French.
    Fr,
    /// Spanish.
    Es,
    /// Bulgarian.
    Bg,
    /// Czech.
    Cs,
}

impl Language {
    /// Every language, the fallback first.
    pub const ALL: [Language; 6] = [
        Language::En,
        Language::De,
        Language::Fr,
        Language::Es,
        Language::Bg,
        Language::Cs,
    ];

    /// The BCP 47 primary tag, as in `<html lang>`.
    pub fn tag(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::De => "de",
            Language::Fr => "fr",
            Language::Es => "es",
            Language::Bg => "bg",
            Language::Cs => "cs",
        }
    }

    /// The best language for an `Accept-Language` header (RFC 9110 §12.5.4): the highest `q`
    /// among the languages offered, ties broken by order in the header; English otherwise.
    pub fn negotiate(accept_language: Option<&str>) -> Language {
        let Some(header) = accept_language else {
            return Language::En;
        };
        let mut best: Option<(u16, Language)> = None;
        for item in header.split(',').take(32) {
            let mut parts = item.split(';');
            let range = parts.next().unwrap_or("").trim();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(1000, quality);
            if q == 0 {
                continue;
            }
            let primary = range.split('-').next().unwrap_or("");
            let Some(lang) = Language::ALL
                .into_iter()
                .find(|l| primary.eq_ignore_ascii_case(l.tag()))
            else {
                continue;
            };
            if best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map_or(Language::En, |(_, l)| l)
    }

    /// The strings of this language.
    pub(crate) fn strings(self) -> &'static Strings {
        match self {
            Language::En => &EN,
            Language::De => &DE,
            Language::Fr => &FR,
            Language::Es => &ES,
            Language::Bg => &BG,
            Language::Cs => &CS,
        }
    }
}

/// A `q` value in thousandths; malformed counts as 0 (not acceptable).
fn quality(q: &str) -> u16 {
    let q: f32 = q.trim().parse().unwrap_or(0.0);
    if !(0.0..=1.0).contains(&q) {
        return 0;
    }
    // In range 0..=1000 by the check above.
    (q * 1000.0).round() as u16
}

/// The words of the setup page in one language.
#[derive(Debug)]
pub(crate) struct Strings {
    pub(crate) title: &'static str,
    pub(crate) intro: &'static str,
    pub(crate) incoming: &'static str,
    pub(crate) outgoing: &'static str,
    pub(crate) protocol: &'static str,
    pub(crate) server: &'static str,
    pub(crate) port: &'static str,
    pub(crate) security: &'static str,
    pub(crate) authentication: &'static str,
    pub(crate) username: &'static str,
    pub(crate) security_none: &'static str,
    pub(crate) your_address: &'static str,
    pub(crate) your_local_part: &'static str,
    pub(crate) form_label: &'static str,
    pub(crate) form_button: &'static str,
    pub(crate) form_hint: &'static str,
    pub(crate) profile: &'static str,
    pub(crate) profile_link: &'static str,
    pub(crate) webmail: &'static str,
    pub(crate) documentation: &'static str,
    pub(crate) auth_normal: &'static str,
    pub(crate) auth_encrypted: &'static str,
    pub(crate) auth_kerberos: &'static str,
    pub(crate) auth_certificate: &'static str,
    pub(crate) auth_none: &'static str,
    pub(crate) auth_by_network: &'static str,
    pub(crate) auth_smtp_after_pop: &'static str,
    pub(crate) bad_address_title: &'static str,
    pub(crate) bad_address: &'static str,
    pub(crate) not_served_title: &'static str,
    pub(crate) not_served: &'static str,
    pub(crate) no_domain_title: &'static str,
    pub(crate) no_domain: &'static str,
}

const EN: Strings = Strings {
    title: "Mail settings for {domain}",
    intro: "Most mail programs find these settings by themselves when you enter your address and \
            password. If yours does not, enter them by hand:",
    incoming: "Incoming mail",
    outgoing: "Outgoing mail",
    protocol: "Protocol",
    server: "Server",
    port: "Port",
    security: "Security",
    authentication: "Authentication",
    username: "Username",
    security_none: "None",
    your_address: "your e-mail address",
    your_local_part: "the part of your address before @",
    form_label: "Your e-mail address",
    form_button: "Show my settings",
    form_hint: "Enter your address to see your exact username.",
    profile: "On an iPhone, iPad or Mac: {link} and install it from Settings.",
    profile_link: "download a configuration profile",
    webmail: "Web mail",
    documentation: "Documentation",
    auth_normal: "Normal password",
    auth_encrypted: "Encrypted password",
    auth_kerberos: "Kerberos / GSSAPI",
    auth_certificate: "TLS certificate",
    auth_none: "No authentication",
    auth_by_network: "No authentication (by network)",
    auth_smtp_after_pop: "SMTP after POP",
    bad_address_title: "Not an e-mail address",
    bad_address: "“{address}” is not an e-mail address. An address looks like name@example.com; \
                  check it and try again.",
    not_served_title: "No settings for {domain} here",
    not_served: "This server gives mail settings only for the domains it serves, and {domain} is \
                 not one of them. Ask the provider of your address for its settings.",
    no_domain_title: "No mail domain here",
    no_domain: "No mail domain is served under this name. Enter your address to find its settings.",
};

const DE: Strings = Strings {
    title: "E-Mail-Einstellungen für {domain}",
    intro: "Die meisten E-Mail-Programme finden diese Einstellungen selbst, sobald Sie Ihre Adresse \
            und Ihr Passwort eingeben. Wenn Ihres das nicht tut, tragen Sie sie von Hand ein:",
    incoming: "Posteingang",
    outgoing: "Postausgang",
    protocol: "Protokoll",
    server: "Server",
    port: "Port",
    security: "Verbindungssicherheit",
    authentication: "Authentifizierung",
    username: "Benutzername",
    security_none: "Keine",
    your_address: "Ihre E-Mail-Adresse",
    your_local_part: "der Teil Ihrer Adresse vor dem @",
    form_label: "Ihre E-Mail-Adresse",
    form_button: "Meine Einstellungen zeigen",
    form_hint: "Geben Sie Ihre Adresse ein, um Ihren genauen Benutzernamen zu sehen.",
    profile: "Auf iPhone, iPad oder Mac: {link} und in den Einstellungen installieren.",
    profile_link: "Konfigurationsprofil laden",
    webmail: "Webmail",
    documentation: "Anleitung",
    auth_normal: "Passwort, normal",
    auth_encrypted: "Verschlüsseltes Passwort",
    auth_kerberos: "Kerberos / GSSAPI",
    auth_certificate: "TLS-Zertifikat",
    auth_none: "Keine Authentifizierung",
    auth_by_network: "Keine Authentifizierung (nach Netz)",
    auth_smtp_after_pop: "SMTP nach POP",
    bad_address_title: "Keine E-Mail-Adresse",
    bad_address: "„{address}“ ist keine E-Mail-Adresse. Eine Adresse sieht aus wie \
                  name@example.com; bitte prüfen und erneut versuchen.",
    not_served_title: "Keine Einstellungen für {domain}",
    not_served: "Dieser Server gibt nur für seine eigenen Domains E-Mail-Einstellungen aus, und \
                 {domain} gehört nicht dazu. Fragen Sie den Anbieter Ihrer Adresse nach den \
                 Einstellungen.",
    no_domain_title: "Keine E-Mail-Domain",
    no_domain: "Unter diesem Namen wird keine E-Mail-Domain bedient. Geben Sie Ihre Adresse ein, \
                um ihre Einstellungen zu finden.",
};

const FR: Strings = Strings {
    title: "Paramètres de messagerie pour {domain}",
    intro: "La plupart des logiciels de messagerie trouvent ces paramètres seuls quand vous saisissez \
            votre adresse et votre mot de passe. Si le vôtre n’y arrive pas, saisissez-les à la main :",
    incoming: "Courrier entrant",
    outgoing: "Courrier sortant",
    protocol: "Protocole",
    server: "Serveur",
    port: "Port",
    security: "Sécurité",
    authentication: "Authentification",
    username: "Identifiant",
    security_none: "Aucune",
    your_address: "votre adresse électronique",
    your_local_part: "la partie de votre adresse avant @",
    form_label: "Votre adresse électronique",
    form_button: "Afficher mes paramètres",
    form_hint: "Saisissez votre adresse pour voir votre identifiant exact.",
    profile: "Sur iPhone, iPad ou Mac : {link} puis installez-le depuis Réglages.",
    profile_link: "téléchargez un profil de configuration",
    webmail: "Webmail",
    documentation: "Documentation",
    auth_normal: "Mot de passe normal",
    auth_encrypted: "Mot de passe chiffré",
    auth_kerberos: "Kerberos / GSSAPI",
    auth_certificate: "Certificat TLS",
    auth_none: "Pas d’authentification",
    auth_by_network: "Pas d’authentification (selon le réseau)",
    auth_smtp_after_pop: "SMTP après POP",
    bad_address_title: "Adresse électronique invalide",
    bad_address: "« {address} » n’est pas une adresse électronique. Une adresse ressemble à \
                  nom@example.com ; vérifiez-la et réessayez.",
    not_served_title: "Aucun paramètre pour {domain} ici",
    not_served: "Ce serveur ne donne des paramètres que pour les domaines qu’il sert, et {domain} \
                 n’en fait pas partie. Demandez les paramètres au fournisseur de votre adresse.",
    no_domain_title: "Aucun domaine de messagerie ici",
    no_domain: "Aucun domaine de messagerie n’est servi sous ce nom. Saisissez votre adresse pour \
                trouver ses paramètres.",
};

const ES: Strings = Strings {
    title: "Configuración de correo para {domain}",
    intro: "La mayoría de los programas de correo encuentran esta configuración por sí solos al \
            introducir su dirección y contraseña. Si el suyo no lo hace, introdúzcala a mano:",
    incoming: "Correo entrante",
    outgoing: "Correo saliente",
    protocol: "Protocolo",
    server: "Servidor",
    port: "Puerto",
    security: "Seguridad",
    authentication: "Autenticación",
    username: "Nombre de usuario",
    security_none: "Ninguna",
    your_address: "su dirección de correo",
    your_local_part: "la parte de su dirección antes de @",
    form_label: "Su dirección de correo",
    form_button: "Mostrar mi configuración",
    form_hint: "Introduzca su dirección para ver su nombre de usuario exacto.",
    profile: "En iPhone, iPad o Mac: {link} e instálelo desde Ajustes.",
    profile_link: "descargue un perfil de configuración",
    webmail: "Correo web",
    documentation: "Documentación",
    auth_normal: "Contraseña normal",
    auth_encrypted: "Contraseña cifrada",
    auth_kerberos: "Kerberos / GSSAPI",
    auth_certificate: "Certificado TLS",
    auth_none: "Sin autenticación",
    auth_by_network: "Sin autenticación (por red)",
    auth_smtp_after_pop: "SMTP después de POP",
    bad_address_title: "No es una dirección de correo",
    bad_address: "«{address}» no es una dirección de correo. Una dirección tiene la forma \
                  nombre@example.com; compruébela y vuelva a intentarlo.",
    not_served_title: "No hay configuración para {domain} aquí",
    not_served: "Este servidor solo da la configuración de los dominios que sirve, y {domain} no es \
                 uno de ellos. Pida la configuración al proveedor de su dirección.",
    no_domain_title: "Ningún dominio de correo aquí",
    no_domain: "No se sirve ningún dominio de correo con este nombre. Introduzca su dirección para \
                encontrar su configuración.",
};

const BG: Strings = Strings {
    title: "Настройки на пощата за {domain}",
    intro: "Повечето пощенски програми намират тези настройки сами, когато въведете адреса и \
            паролата си. Ако вашата не го прави, въведете ги ръчно:",
    incoming: "Входяща поща",
    outgoing: "Изходяща поща",
    protocol: "Протокол",
    server: "Сървър",
    port: "Порт",
    security: "Защита",
    authentication: "Удостоверяване",
    username: "Потребителско име",
    security_none: "Няма",
    your_address: "вашият имейл адрес",
    your_local_part: "частта от адреса ви преди @",
    form_label: "Вашият имейл адрес",
    form_button: "Покажи моите настройки",
    form_hint: "Въведете адреса си, за да видите точното си потребителско име.",
    profile: "На iPhone, iPad или Mac: {link} и го инсталирайте от Настройки.",
    profile_link: "изтеглете конфигурационен профил",
    webmail: "Уеб поща",
    documentation: "Документация",
    auth_normal: "Нормална парола",
    auth_encrypted: "Шифрована парола",
    auth_kerberos: "Kerberos / GSSAPI",
    auth_certificate: "TLS сертификат",
    auth_none: "Без удостоверяване",
    auth_by_network: "Без удостоверяване (по мрежа)",
    auth_smtp_after_pop: "SMTP след POP",
    bad_address_title: "Това не е имейл адрес",
    bad_address: "„{address}“ не е имейл адрес. Адресът изглежда като name@example.com; \
                  проверете го и опитайте отново.",
    not_served_title: "Няма настройки за {domain} тук",
    not_served: "Този сървър дава настройки само за домейните, които обслужва, а {domain} не е \
                 сред тях. Попитайте доставчика на адреса си за настройките.",
    no_domain_title: "Няма пощенски домейн тук",
    no_domain: "Под това име не се обслужва пощенски домейн. Въведете адреса си, за да намерите \
                настройките му.",
};

const CS: Strings = Strings {
    title: "Nastavení pošty pro {domain}",
    intro: "Většina poštovních programů najde tato nastavení sama, když zadáte adresu a heslo. \
            Pokud to ten váš neumí, zadejte je ručně:",
    incoming: "Příchozí pošta",
    outgoing: "Odchozí pošta",
    protocol: "Protokol",
    server: "Server",
    port: "Port",
    security: "Zabezpečení",
    authentication: "Ověření",
    username: "Uživatelské jméno",
    security_none: "Žádné",
    your_address: "vaše e-mailová adresa",
    your_local_part: "část adresy před @",
    form_label: "Vaše e-mailová adresa",
    form_button: "Zobrazit moje nastavení",
    form_hint: "Zadejte adresu a uvidíte své přesné uživatelské jméno.",
    profile: "Na iPhonu, iPadu nebo Macu: {link} a nainstalujte jej v Nastavení.",
    profile_link: "stáhněte konfigurační profil",
    webmail: "Webmail",
    documentation: "Nápověda",
    auth_normal: "Normální heslo",
    auth_encrypted: "Šifrované heslo",
    auth_kerberos: "Kerberos / GSSAPI",
    auth_certificate: "Certifikát TLS",
    auth_none: "Bez ověření",
    auth_by_network: "Bez ověření (podle sítě)",
    auth_smtp_after_pop: "SMTP po POP",
    bad_address_title: "Toto není e-mailová adresa",
    bad_address: "„{address}“ není e-mailová adresa. Adresa vypadá jako jmeno@example.com; \
                  zkontrolujte ji a zkuste to znovu.",
    not_served_title: "Pro {domain} zde nastavení není",
    not_served: "Tento server poskytuje nastavení jen pro domény, které obsluhuje, a {domain} mezi \
                 ně nepatří. O nastavení požádejte poskytovatele své adresy.",
    no_domain_title: "Žádná poštovní doména",
    no_domain: "Pod tímto jménem není obsluhována žádná poštovní doména. Zadejte adresu a najděte \
                její nastavení.",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_offered_language() {
        assert_eq!(Language::negotiate(None), Language::En);
        assert_eq!(
            Language::negotiate(Some("cs-CZ,cs;q=0.9,en;q=0.8")),
            Language::Cs
        );
        assert_eq!(
            Language::negotiate(Some("ja, de;q=0.5, fr;q=0.7")),
            Language::Fr
        );
        assert_eq!(Language::negotiate(Some("bg")), Language::Bg);
        assert_eq!(Language::negotiate(Some("ES-mx")), Language::Es);
        assert_eq!(Language::negotiate(Some("de;q=0, en;q=0.1")), Language::En);
        assert_eq!(
            Language::negotiate(Some("zz, ;;;q=x, de;q=2")),
            Language::En
        );
        assert_eq!(Language::negotiate(Some("*")), Language::En);
    }

    #[test]
    fn every_language_keeps_the_placeholders() {
        for l in Language::ALL {
            let s = l.strings();
            assert!(s.title.contains("{domain}"), "{l:?}");
            assert!(s.profile.contains("{link}"), "{l:?}");
            assert!(s.bad_address.contains("{address}"), "{l:?}");
            assert!(s.not_served.contains("{domain}"), "{l:?}");
            assert!(s.not_served_title.contains("{domain}"), "{l:?}");
        }
    }
}
