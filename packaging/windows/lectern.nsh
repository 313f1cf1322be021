; Lectern's installer macros (included by NSIS.template.in): the uninstall entry in "Apps" and the
; .lectern file association. Everything goes to SHCTX, i.e. HKCU for a per-user install and HKLM
; for a per-machine one (MultiUser.nsh sets the context), and the uninstaller removes it again.

!ifndef LECTERN_NSH
!define LECTERN_NSH

!define LECTERN_PROGID "Lectern.Session"
!define LECTERN_EXT ".lectern"
; SHCNE_ASSOCCHANGED, SHCNF_IDLIST: tell Explorer that file associations changed.
!define LECTERN_SHCNE_ASSOCCHANGED 0x08000000

; Writes a value only when it is non-empty (CPack leaves unset fields empty).
!macro LecternWriteUninstallValue NAME VALUE
  StrCmp "${VALUE}" "" +2
    WriteRegStr SHCTX "${UNINSTALL_KEY}" "${NAME}" "${VALUE}"
!macroend

; The entry in Settings > Apps / Programs and Features. UninstallString carries the install mode
; so the uninstaller works on the same registry hive and shortcut folders as the installer.
!macro LecternWriteUninstallKey
  WriteRegStr SHCTX "${UNINSTALL_KEY}" "DisplayName" "${DISPLAY_NAME}"
  WriteRegStr SHCTX "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr SHCTX "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr SHCTX "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\${UNINSTALLER}" /$MultiUser.InstallMode'
  WriteRegStr SHCTX "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\${UNINSTALLER}" /S /$MultiUser.InstallMode'
  WriteRegDWORD SHCTX "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD SHCTX "${UNINSTALL_KEY}" "NoRepair" 1
  !insertmacro LecternWriteUninstallValue "Publisher" "${PUBLISHER}"
  !insertmacro LecternWriteUninstallValue "HelpLink" "${HELP_LINK}"
  !insertmacro LecternWriteUninstallValue "URLInfoAbout" "${URL_INFO_ABOUT}"
  !insertmacro LecternWriteUninstallValue "Contact" "${CONTACT}"
  !insertmacro LecternWriteUninstallValue "DisplayIcon" "$INSTDIR\${DISPLAY_ICON}"
  ; Size shown in Apps, in KiB.
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  IntFmt $0 "0x%08X" $0
  WriteRegDWORD SHCTX "${UNINSTALL_KEY}" "EstimatedSize" "$0"
!macroend

; .lectern session files open in Lectern (lectern.exe FILE). Lectern also offers itself in
; "Open with" for PDF and EPUB without taking those types over.
!macro LecternRegisterFileType
  WriteRegStr SHCTX "Software\Classes\${LECTERN_PROGID}" "" "Lectern session"
  WriteRegStr SHCTX "Software\Classes\${LECTERN_PROGID}\DefaultIcon" "" '"$INSTDIR\${APP_ICON}"'
  WriteRegStr SHCTX "Software\Classes\${LECTERN_PROGID}\shell\open\command" "" '"$INSTDIR\${APP_EXE}" "%1"'
  WriteRegStr SHCTX "Software\Classes\${LECTERN_EXT}" "" "${LECTERN_PROGID}"
  WriteRegStr SHCTX "Software\Classes\${LECTERN_EXT}" "Content Type" "application/x-lectern-session"
  WriteRegStr SHCTX "Software\Classes\${LECTERN_EXT}\OpenWithProgids" "${LECTERN_PROGID}" ""
  WriteRegStr SHCTX "Software\Classes\Applications\${APP_EXE_NAME}" "FriendlyAppName" "Lectern"
  WriteRegStr SHCTX "Software\Classes\Applications\${APP_EXE_NAME}\shell\open\command" "" '"$INSTDIR\${APP_EXE}" "%1"'
  WriteRegStr SHCTX "Software\Classes\Applications\${APP_EXE_NAME}\SupportedTypes" "${LECTERN_EXT}" ""
  WriteRegStr SHCTX "Software\Classes\Applications\${APP_EXE_NAME}\SupportedTypes" ".pdf" ""
  WriteRegStr SHCTX "Software\Classes\Applications\${APP_EXE_NAME}\SupportedTypes" ".epub" ""
  WriteRegStr SHCTX "Software\Classes\.pdf\OpenWithList\${APP_EXE_NAME}" "" ""
  WriteRegStr SHCTX "Software\Classes\.epub\OpenWithList\${APP_EXE_NAME}" "" ""
  System::Call 'shell32::SHChangeNotify(i ${LECTERN_SHCNE_ASSOCCHANGED}, i 0, p 0, p 0)'
!macroend

; Removes only Lectern's own keys; .lectern's default is cleared only if it still points at us.
!macro LecternUnregisterFileType
  DeleteRegKey SHCTX "Software\Classes\${LECTERN_PROGID}"
  DeleteRegKey SHCTX "Software\Classes\Applications\${APP_EXE_NAME}"
  DeleteRegKey SHCTX "Software\Classes\.pdf\OpenWithList\${APP_EXE_NAME}"
  DeleteRegKey SHCTX "Software\Classes\.epub\OpenWithList\${APP_EXE_NAME}"
  DeleteRegValue SHCTX "Software\Classes\${LECTERN_EXT}\OpenWithProgids" "${LECTERN_PROGID}"
  DeleteRegKey /ifempty SHCTX "Software\Classes\${LECTERN_EXT}\OpenWithProgids"
  ReadRegStr $0 SHCTX "Software\Classes\${LECTERN_EXT}" ""
  StrCmp $0 "${LECTERN_PROGID}" 0 +3
    DeleteRegValue SHCTX "Software\Classes\${LECTERN_EXT}" ""
    DeleteRegValue SHCTX "Software\Classes\${LECTERN_EXT}" "Content Type"
  DeleteRegKey /ifempty SHCTX "Software\Classes\${LECTERN_EXT}"
  System::Call 'shell32::SHChangeNotify(i ${LECTERN_SHCNE_ASSOCCHANGED}, i 0, p 0, p 0)'
!macroend

!endif
