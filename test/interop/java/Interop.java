// A standard third-party EWS client in another language (Microsoft's EWS Java API) against
// the sandbox: explicit server version, Basic auth, impersonation. Prints "check value"
// lines that test/integration/sandbox/java-interop.test.ts asserts on.
import java.net.URI;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import microsoft.exchange.webservices.data.core.ExchangeService;
import microsoft.exchange.webservices.data.core.PropertySet;
import microsoft.exchange.webservices.data.core.enumeration.misc.ConnectingIdType;
import microsoft.exchange.webservices.data.core.enumeration.misc.ExchangeVersion;
import microsoft.exchange.webservices.data.core.enumeration.notification.EventType;
import microsoft.exchange.webservices.data.core.enumeration.property.WellKnownFolderName;
import microsoft.exchange.webservices.data.core.enumeration.service.ConflictResolutionMode;
import microsoft.exchange.webservices.data.core.enumeration.service.DeleteMode;
import microsoft.exchange.webservices.data.core.enumeration.service.SendCancellationsMode;
import microsoft.exchange.webservices.data.core.enumeration.service.SendInvitationsMode;
import microsoft.exchange.webservices.data.core.enumeration.service.SendInvitationsOrCancellationsMode;
import microsoft.exchange.webservices.data.core.enumeration.service.SyncFolderItemsScope;
import microsoft.exchange.webservices.data.core.service.folder.Folder;
import microsoft.exchange.webservices.data.core.service.item.Appointment;
import microsoft.exchange.webservices.data.credential.WebCredentials;
import microsoft.exchange.webservices.data.misc.ImpersonatedUserId;
import microsoft.exchange.webservices.data.notification.GetEventsResults;
import microsoft.exchange.webservices.data.notification.ItemEvent;
import microsoft.exchange.webservices.data.notification.NotificationEvent;
import microsoft.exchange.webservices.data.notification.PullSubscription;
import microsoft.exchange.webservices.data.notification.StreamingSubscription;
import microsoft.exchange.webservices.data.notification.StreamingSubscriptionConnection;
import microsoft.exchange.webservices.data.property.complex.FolderId;
import microsoft.exchange.webservices.data.search.CalendarView;
import microsoft.exchange.webservices.data.search.FindItemsResults;
import microsoft.exchange.webservices.data.sync.ChangeCollection;
import microsoft.exchange.webservices.data.sync.ItemChange;

public class Interop {
  public static void main(String[] args) throws Exception {
    ExchangeService service = new ExchangeService(ExchangeVersion.Exchange2010_SP2);
    service.setCredentials(new WebCredentials("svc-sync@contoso.test", args[2]));
    service.setUrl(new URI(args[0]));
    service.setImpersonatedUserId(new ImpersonatedUserId(ConnectingIdType.SmtpAddress, args[1]));

    Folder calendar = Folder.bind(service, WellKnownFolderName.Calendar);
    System.out.println("folder " + calendar.getDisplayName());

    List<FolderId> folders = new ArrayList<>();
    folders.add(new FolderId(WellKnownFolderName.Calendar));
    PullSubscription pull = service.subscribeToPullNotifications(folders, 5, null, EventType.Created, EventType.Modified);

    long now = System.currentTimeMillis();
    Appointment a = new Appointment(service);
    a.setSubject("From Java & friends");
    a.setStart(new Date(now + 3_600_000L));
    a.setEnd(new Date(now + 7_200_000L));
    a.save(new FolderId(WellKnownFolderName.Calendar), SendInvitationsMode.SendToNone);
    Appointment b = Appointment.bind(service, a.getId());
    System.out.println("subject " + b.getSubject());

    FindItemsResults<Appointment> found = service.findAppointments(WellKnownFolderName.Calendar, new CalendarView(new Date(now), new Date(now + 86_400_000L)));
    int inView = 0;
    for (Appointment x : found.getItems()) if ("From Java & friends".equals(x.getSubject())) inView++;
    System.out.println("calendarview " + inView);

    ChangeCollection<ItemChange> changes = service.syncFolderItems(new FolderId(WellKnownFolderName.Calendar), PropertySet.IdOnly, null, 100, SyncFolderItemsScope.NormalItems, null);
    System.out.println("sync " + changes.getCount());

    b.setSubject("Changed from Java");
    b.update(ConflictResolutionMode.AlwaysOverwrite, SendInvitationsOrCancellationsMode.SendToNone);
    GetEventsResults events = pull.getEvents();
    int created = 0, modified = 0;
    for (ItemEvent e : events.getItemEvents()) {
      if (e.getEventType() == EventType.Created) created++;
      if (e.getEventType() == EventType.Modified) modified++;
    }
    System.out.println("pull " + created + " " + modified);

    StreamingSubscription streaming = service.subscribeToStreamingNotifications(folders, EventType.Created);
    StreamingSubscriptionConnection connection = new StreamingSubscriptionConnection(service, 1);
    connection.addSubscription(streaming);
    CountDownLatch latch = new CountDownLatch(1);
    connection.addOnNotificationEvent((sender, args2) -> {
      for (NotificationEvent e : args2.getEvents()) if (e.getEventType() == EventType.Created) latch.countDown();
    });
    connection.open();
    Thread.sleep(300);
    Appointment c = new Appointment(service);
    c.setSubject("Streamed to Java");
    c.setStart(new Date(now));
    c.setEnd(new Date(now + 1_800_000L));
    c.save(new FolderId(WellKnownFolderName.Calendar), SendInvitationsMode.SendToNone);
    System.out.println("streaming " + latch.await(15, TimeUnit.SECONDS));

    b.delete(DeleteMode.HardDelete, SendCancellationsMode.SendToNone);
    pull.unsubscribe();
    System.out.println("done");
    // Not connection.close(): the Java API then drains the chunked response until the
    // server's ConnectionTimeout ends it; exiting drops the connection instead.
    System.exit(0);
  }
}
