; Inno Setup script for Mneme on Windows (Inno Setup 6.3 or newer).
;
; NOT TESTED HERE: Windows installers cannot be built on the Linux build machine.
; Written from the Inno Setup documentation (jrsoftware.org/ishelp).
;
; On a Windows machine, from a clone with Python 3.11 and the venv set up as in
; DEVELOPERS.md (plus: pip install -c constraints.txt -e ".[packaging]"):
;   python packaging\build.py --no-archive      -> dist\mneme\ (mneme.exe, mneme-cli.exe)
;   iscc /DAppVersion=0.1.0 packaging\windows\mneme.iss
;                                               -> dist\Mneme-0.1.0-setup-x64.exe
;
; Installs per user by default (no administrator rights; to
; %LOCALAPPDATA%\Programs\Mneme), or for all users if chosen in the first dialog.
; Uninstalling removes the program only: memories, settings and models stay in
; %LOCALAPPDATA%\mneme (see README "Install" for taking them along or deleting them).

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppName "Mneme"
#define AppExe "mneme.exe"
; Paths are relative to this script's folder (packaging\windows).
#define DistDir "..\..\dist\mneme"

[Setup]
; AppId identifies the app to Windows' uninstaller list; never change it.
AppId={{BDD5F6B1-735F-49EB-8ED0-AD95F0170B63}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Mneme developers
AppCopyright=Apache License 2.0
VersionInfoVersion={#AppVersion}
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
; Qt 6 needs Windows 10 or newer.
MinVersion=10.0
WizardStyle=modern
SetupIconFile=..\icons\mneme.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName}
OutputDir=..\..\dist
OutputBaseFilename={#AppName}-{#AppVersion}-setup-x64
Compression=lzma2
SolidCompression=yes
LZMAUseSeparateProcess=yes
; The app must be closed to be updated or removed; Setup offers to close it.
CloseApplications=yes

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
; The whole PyInstaller folder: mneme.exe, mneme-cli.exe and _internal\.
Source: "{#DistDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"; Comment: "An offline assistant with a lifelong memory"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; Python may leave compiled caches beside the program; the user's data is elsewhere.
Type: filesandordirs; Name: "{app}\_internal\__pycache__"
