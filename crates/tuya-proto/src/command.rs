//! Command numbers of the Tuya LAN protocol.

use std::fmt;

macro_rules! commands {
    ($( $(#[$doc:meta])* $variant:ident = $num:literal, $name:literal; )*) => {
        /// A frame's command number. Unknown numbers are kept in [`Command::Other`], not rejected.
        ///
        /// ```
        /// use tuya_proto::Command;
        /// assert_eq!(Command::from(10), Command::DpQuery);
        /// assert_eq!(Command::from(10).name(), "DP_QUERY");
        /// assert_eq!(u32::from(Command::from(999)), 999);
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Command {
            $( $(#[$doc])* $variant, )*
            /// A command number this crate does not know by name.
            Other(u32),
        }

        impl From<u32> for Command {
            fn from(n: u32) -> Self {
                match n {
                    $( $num => Self::$variant, )*
                    other => Self::Other(other),
                }
            }
        }

        impl From<Command> for u32 {
            fn from(c: Command) -> u32 {
                match c {
                    $( Command::$variant => $num, )*
                    Command::Other(n) => n,
                }
            }
        }

        impl Command {
            /// The name tinytuya and Tuya's SDK use for this command ("CONTROL_NEW"), or "UNKNOWN".
            pub fn name(self) -> &'static str {
                match self {
                    $( Self::$variant => $name, )*
                    Self::Other(_) => "UNKNOWN",
                }
            }

            /// Looks a command up by its name ("DP_QUERY") or number ("10").
            pub fn from_name(s: &str) -> Option<Self> {
                if let Ok(n) = s.parse::<u32>() {
                    return Some(Self::from(n));
                }
                let up = s.to_ascii_uppercase();
                match up.as_str() {
                    $( $name => Some(Self::$variant), )*
                    _ => None,
                }
            }
        }
    };
}

commands! {
    /// 0: discovery announcement (plain, 6666).
    Udp = 0, "UDP";
    /// 1: access-point configuration.
    ApConfig = 1, "AP_CONFIG";
    /// 2: activation.
    Active = 2, "ACTIVE";
    /// 3: client starts 3.4/3.5 session negotiation with its nonce.
    SessKeyNegStart = 3, "SESS_KEY_NEG_START";
    /// 4: device answers with its nonce and an HMAC of the client's.
    SessKeyNegResp = 4, "SESS_KEY_NEG_RESP";
    /// 5: client finishes with an HMAC of the device's nonce.
    SessKeyNegFinish = 5, "SESS_KEY_NEG_FINISH";
    /// 6: unbind.
    Unbind = 6, "UNBIND";
    /// 7: set DPs (≤3.3).
    Control = 7, "CONTROL";
    /// 8: device pushes DP changes.
    Status = 8, "STATUS";
    /// 9: keep-alive.
    HeartBeat = 9, "HEART_BEAT";
    /// 10: read DPs (≤3.3).
    DpQuery = 10, "DP_QUERY";
    /// 11: query Wi-Fi.
    QueryWifi = 11, "QUERY_WIFI";
    /// 12: token bind.
    TokenBind = 12, "TOKEN_BIND";
    /// 13: set DPs (3.4+, and the device22 query).
    ControlNew = 13, "CONTROL_NEW";
    /// 14: enable Wi-Fi.
    EnableWifi = 14, "ENABLE_WIFI";
    /// 15: Wi-Fi information.
    WifiInfo = 15, "WIFI_INFO";
    /// 16: read DPs (3.4+).
    DpQueryNew = 16, "DP_QUERY_NEW";
    /// 17: run a scene.
    SceneExecute = 17, "SCENE_EXECUTE";
    /// 18: ask the device to push fresh values of listed DPs (DP_REFRESH).
    UpdateDps = 18, "UPDATEDPS";
    /// 19: encrypted discovery announcement (6667).
    UdpNew = 19, "UDP_NEW";
    /// 20: new-style AP configuration.
    ApConfigNew = 20, "AP_CONFIG_NEW";
    /// 30: device asks for local time.
    GetLocalTime = 30, "GET_LOCAL_TIME";
    /// 31: weather open.
    WeatherOpen = 31, "WEATHER_OPEN";
    /// 32: weather data.
    WeatherData = 32, "WEATHER_DATA";
    /// 33: state upload sync.
    StateUploadSyn = 33, "STATE_UPLOAD_SYN";
    /// 34: state upload sync received.
    StateUploadSynRecv = 34, "STATE_UPLOAD_SYN_RECV";
    /// 35: 3.4 broadcast.
    BoardcastLpv34 = 35, "BOARDCAST_LPV34";
    /// 36: stream transfer.
    StreamTrans = 36, "STREAM_TRANS";
    /// 37: client asks devices (UDP 7000) to announce themselves.
    ReqDevInfo = 37, "REQ_DEVINFO";
    /// 64: gateway / sub-device extensions.
    LanExtStream = 64, "LAN_EXT_STREAM";
    /// 240: gateway activation.
    LanGwActive = 240, "LAN_GW_ACTIVE";
    /// 241: sub-device request.
    LanSubDevRequest = 241, "LAN_SUB_DEV_REQUEST";
    /// 242: delete a sub-device.
    LanDeleteSubDev = 242, "LAN_DELETE_SUB_DEV";
    /// 243: sub-device report.
    LanReportSubDev = 243, "LAN_REPORT_SUB_DEV";
    /// 244: LAN scene.
    LanScene = 244, "LAN_SCENE";
}

impl Command {
    /// Commands that never carry the "3.x" version header (queries, keep-alives, negotiation).
    pub fn is_header_exempt(self) -> bool {
        matches!(
            self,
            Self::DpQuery
                | Self::DpQueryNew
                | Self::UpdateDps
                | Self::HeartBeat
                | Self::SessKeyNegStart
                | Self::SessKeyNegResp
                | Self::SessKeyNegFinish
                | Self::LanExtStream
        )
    }

    /// Session-negotiation commands, which are keyed with the local key rather than the session key.
    pub fn is_negotiation(self) -> bool {
        matches!(
            self,
            Self::SessKeyNegStart | Self::SessKeyNegResp | Self::SessKeyNegFinish
        )
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Other(n) => write!(f, "UNKNOWN({n})"),
            c => f.write_str(c.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip() {
        for n in 0..300u32 {
            assert_eq!(u32::from(Command::from(n)), n);
        }
        assert_eq!(Command::from(64), Command::LanExtStream);
        assert_eq!(Command::from(35).name(), "BOARDCAST_LPV34");
        assert_eq!(Command::from_name("control_new"), Some(Command::ControlNew));
        assert_eq!(Command::from_name("77"), Some(Command::Other(77)));
        assert_eq!(Command::from(77).to_string(), "UNKNOWN(77)");
    }
}
